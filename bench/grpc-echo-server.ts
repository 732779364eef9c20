// The gRPC floor: a bare node:http2 server that reads each call's message whole and answers with a
// fixed ModelInferResponse (one FP32 output of `rows` × 10) and grpc-status 0 — no protobuf
// decoding, no tenants, no model. bench:abuse's gRPC controls flood it with the same h2load calls
// as its gRPC cells, so what B loses meanwhile is the machine's doing, not Pareto's. Its own process.
import { createServer, constants } from 'node:http2';
import { inferenceService } from '../src/protocol/grpc/proto.js';

const rows = Number(process.argv[2] ?? 1);
const message = inferenceService().service.ModelInfer.responseSerialize({
  model_name: 'mnist-mlp', model_version: '1', id: '',
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, 10] }],
  raw_output_contents: [Buffer.alloc(rows * 10 * 4)],
});
const frame = Buffer.alloc(5 + message.length);
frame.writeUInt32BE(message.length, 1);
message.copy(frame, 5);

const server = createServer();
server.on('stream', (stream) => {
  stream.on('data', () => {});
  stream.on('end', () => {
    if (stream.destroyed) return;
    stream.respond({ [constants.HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame);
  });
  stream.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  console.log(`grpc_port=${(server.address() as { port: number }).port}`);
});
