import { closedLoop } from './dist/bench/lib/closed-loop.js';
import { loadMnist } from './dist/src/datasets/mnist.js';
const px = loadMnist('test').pixels.slice(0, 784);
const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: 3136 } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] }));
const body = Buffer.concat([header, Buffer.from(px.buffer)]);
const r = await closedLoop('http://127.0.0.1:46173', { path: '/v2/models/mnist-mlp/infer', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }, samples: 1 }, 64, 5000);
console.log(r.requestsPerSecond, r.meanBatchSize);
