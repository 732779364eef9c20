// Memory attacks for bench:abuse, from a process of their own (pushing 1.8 GB from the process
// that measures the victim stalled its own event loop and its measurements with it):
//   --held: N connections each declare a body of --declared bytes on --key, send --send of them
//           and stop; the answers (status per connection) come back once each has one.
//   --grpc: N concurrent ModelInfer messages of --bytes with no key.
// Prints `sending`, then `result=<json>` (statuses counted).
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { inferenceService } from '../../src/protocol/grpc/proto.js';

const { values } = parseArgs({ options: {
  mode: { type: 'string' }, port: { type: 'string' }, address: { type: 'string' }, key: { type: 'string', default: '' },
  count: { type: 'string' }, declared: { type: 'string' }, send: { type: 'string' }, bytes: { type: 'string' },
} });
const count = Number(values.count);
const statuses: Record<string, number> = {};
const tally = (s: string | number) => { statuses[s] = (statuses[s] ?? 0) + 1; };

async function held(): Promise<void> {
  const declared = Number(values.declared), send = Number(values.send);
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  const one = async (): Promise<{ socket: Socket; status: Promise<number> }> => {
    const socket = connect(Number(values.port), '127.0.0.1');
    await once(socket, 'connect');
    const closed = once(socket, 'close').catch(() => undefined);
    const status = new Promise<number>((resolve) => {
      socket.once('data', (d) => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(d.toString())?.[1])));
      void closed.then(() => resolve(0));
      socket.on('error', () => resolve(0));
    });
    socket.write(`POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${values.key}\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: 64\r\nContent-Length: ${declared}\r\n\r\n`);
    try {
      for (let sent = 0; sent < send && !socket.destroyed; sent += chunk.length) {
        if (!socket.write(chunk.subarray(0, Math.min(chunk.length, send - sent)))) await Promise.race([once(socket, 'drain'), closed]);
      }
    } catch { /* the server closed the connection: its answer, if any, is in `status` */ }
    return { socket, status };
  };
  console.log('sending');
  const sockets = await Promise.all(Array.from({ length: count }, one));
  for (const s of await Promise.all(sockets.map((h) => h.status))) tally(s);
  for (const h of sockets) h.socket.destroy();
}

async function unauthenticated(): Promise<void> {
  const Client = inferenceService();
  const client = new Client(values.address!, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 128 * 1024 * 1024 }) as unknown as grpc.Client & { ModelInfer: Function };
  const raw = Buffer.alloc(Number(values.bytes));
  console.log('sending');
  const codes = await Promise.all(Array.from({ length: count }, () => new Promise<number>((resolve) =>
    client.ModelInfer({ model_name: 'mnist-mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, raw.length / 4] }], raw_input_contents: [raw] }, (e: grpc.ServiceError | null) => resolve(e?.code ?? 0)))));
  for (const c of codes) tally(grpc.status[c]);
  client.close();
}

await (values.mode === 'held' ? held() : unauthenticated());
console.log(`result=${JSON.stringify({ statuses })}`);
