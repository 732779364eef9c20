import { Pool } from 'undici';
import { loadMnist } from './dist/src/datasets/mnist.js';
const px = loadMnist('test').pixels.slice(0, 784);
const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: 3136 } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] }));
const body = Buffer.concat([header, Buffer.from(px.buffer)]);
const pool = new Pool('http://127.0.0.1:42391', { connections: 1 });
const rtt = [], q = [], c = [];
for (let i = 0; i < 3000; i++) {
  const t0 = performance.now();
  const r = await pool.request({ path: process.argv[2] ?? '/v2/models/mnist-mlp/infer', method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } });
  await r.body.arrayBuffer();
  rtt.push(performance.now() - t0); q.push(Number(r.headers['pareto-queue-ms'])); c.push(Number(r.headers['pareto-compute-ms']));
}
const p50 = (a) => a.sort((x, y) => x - y)[a.length >> 1].toFixed(3);
console.log('rtt', p50(rtt), 'queue', p50(q), 'compute', p50(c));
await pool.close();
