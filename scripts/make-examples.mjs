// Writes examples/digit.json: the first MNIST test digit as an Open Inference Protocol request.
import { writeFileSync } from 'node:fs';
import { loadMnist } from '../dist/src/datasets/mnist.js';

const test = loadMnist('test');
const index = 0;
const pixels = Array.from(test.pixels.subarray(index * 784, (index + 1) * 784), (v) => Math.round(v * 1000) / 1000);
writeFileSync('examples/digit.json', JSON.stringify({
  id: `mnist-test-${index}-label-${test.labels[index]}`,
  inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: pixels }],
}) + '\n');
console.log(`examples/digit.json: MNIST test digit #${index}, label ${test.labels[index]}`);
