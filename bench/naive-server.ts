// The baseline a user writes by hand: one HTTP server, one ONNX Runtime session of the most
// accurate model, one run per request on the event loop; no batching, no variants, no scheduling.
// It speaks the same binary request as Pareto, so the same load can be sent to both.
// Usage: node naive-server.js <model.onnx> <accuracy>
import { createServer } from 'node:http';
import ort from 'onnxruntime-node';

const [modelPath, accuracy] = process.argv.slice(2);
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, executionMode: 'sequential' });
const [input] = session.inputNames;
const [output] = session.outputNames;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const body = Buffer.concat(chunks);
      const headerLength = Number(req.headers['inference-header-content-length']);
      const header = JSON.parse(body.subarray(0, headerLength).toString());
      const shape = header.inputs[0].shape as number[];
      const raw = body.subarray(headerLength);
      const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const out = (await session.run({ [input]: new ort.Tensor('float32', data, shape) }))[output];
      const bytes = Buffer.from((out.data as Float32Array).buffer);
      const json = Buffer.from(JSON.stringify({ model_name: 'naive', outputs: [{ name: output, datatype: 'FP32', shape: out.dims, parameters: { binary_data_size: bytes.length } }] }));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': json.length, 'pareto-variant': 'naive', 'pareto-accuracy': accuracy });
      res.end(Buffer.concat([json, bytes]));
    } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (e as Error).message }));
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(`http_port=${(server.address() as { port: number }).port}`));
