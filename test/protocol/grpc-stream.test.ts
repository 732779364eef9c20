// gRPC ModelStreamInfer, from a client on the published proto: every message answered with its
// id in completion order, a bad message answered with its error while the stream goes on, the
// same logits as unary calls, and the key checked before any message is read.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { inferenceService } from '../../src/protocol/grpc/proto.js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { digits, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let client: grpc.Client & Record<string, Function>;

before(async () => {
  server = await startTestServer({ tenantsYaml: `tenants:\n  - id: streamer\n    keys: ["${hashKey('stream-key')}"]\n    models: ["*"]\n` });
  const Client = inferenceService();
  client = new Client(server.grpcAddress, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
});
after(async () => { client.close(); await server.close(); });

const request = (i: number, id: string, inputName = 'input') => {
  const { pixels } = digits(i, 1);
  return { model_name: 'mnist-mlp', model_version: 'fp32', id, inputs: [{ name: inputName, datatype: 'FP32', shape: [1, 784] }], raw_input_contents: [Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)] };
};
const logits = (res: { raw_output_contents: Buffer[] }) => { const b = res.raw_output_contents[0]; return Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))); };

function stream(key: string | undefined, requests: object[]): Promise<{ responses: any[]; error?: grpc.ServiceError }> {
  const md = new grpc.Metadata();
  if (key) md.set('authorization', `Bearer ${key}`);
  const call = client.ModelStreamInfer(md) as grpc.ClientDuplexStream<object, any>;
  const responses: any[] = [];
  return new Promise((resolve) => {
    call.on('data', (r) => responses.push(r));
    call.on('error', (error: grpc.ServiceError) => resolve({ responses, error }));
    call.on('end', () => resolve({ responses }));
    for (const r of requests) call.write(r);
    call.end();
  });
}

describe('gRPC ModelStreamInfer', () => {
  it('answers every message with its id; a bad one gets its error and the stream goes on', async () => {
    const sent = [request(0, 'a0'), request(1, 'a1'), request(2, 'bad', 'no-such-input'), request(3, 'a3'), request(4, 'a4')];
    const { responses, error } = await stream('stream-key', sent);
    assert.equal(error, undefined);
    assert.equal(responses.length, 5);
    const byId = new Map(responses.map((r) => [r.infer_response.id, r]));
    assert.deepEqual([...byId.keys()].sort(), ['a0', 'a1', 'a3', 'a4', 'bad']);
    assert.match(byId.get('bad').error_message, /PARETO_ERR_INVALID_REQUEST/);
    // The same logits as a unary call for the same digit.
    const unary = await new Promise<any>((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('authorization', 'Bearer stream-key');
      client.ModelInfer(request(3, 'u3'), md, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r)));
    });
    assert.equal(byId.get('a3').error_message, '');
    assert.deepEqual(logits(byId.get('a3').infer_response), logits(unary));
  });

  it('more messages than a stream holds at once: all answered', async () => {
    const { responses, error } = await stream('stream-key', Array.from({ length: 60 }, (_, i) => request(i, `m${i}`)));
    assert.equal(error, undefined);
    assert.equal(responses.filter((r) => r.error_message === '').length, 60);
  });

  it('without a valid key the stream ends UNAUTHENTICATED before any message is read', async () => {
    const { responses, error } = await stream(undefined, [request(0, 'x')]);
    assert.equal(responses.length, 0);
    assert.equal(error?.code, grpc.status.UNAUTHENTICATED);
  });
});
