// Compressed request and response bodies (tritonclient's request_compression_algorithm and
// response_compression_algorithm): gzip and deflate in, gzip or deflate out when accepted, the
// decoded body held to the plain limits (a decompression bomb is a 413), anything else refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { inferenceService } from '../../src/protocol/grpc/proto.js';
import { binaryInfer, digits, jsonInfer, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
// 8 MiB messages and bodies: a gRPC bomb need not be large to be over the limit.
before(async () => { server = await startTestServer({ maxJsonBytes: 1 << 20, maxBodyBytes: 8 << 20 }); });
after(() => server.close());

const url = () => `${server.url}/v2/models/mnist-mlp/versions/fp32/infer`;
const { pixels } = digits(40, 32);
const plain = jsonInfer(pixels, 32);

describe('content codings', () => {
  it('a gzip or deflate JSON body gets the same answer as the plain one; a gzip response when accepted', async () => {
    const reference = await (await fetch(url(), { method: 'POST', body: plain })).json();
    for (const [coding, body] of [['gzip', gzipSync(plain)], ['deflate', deflateSync(plain)]] as const) {
      const res = await fetch(url(), { method: 'POST', body: new Uint8Array(body), headers: { 'content-encoding': coding, 'accept-encoding': 'gzip' } });
      assert.equal(res.status, 200, `${coding}: ${res.status}`);
      assert.equal(res.headers.get('content-encoding'), 'gzip');
      const out = await res.json(); // fetch inflates it
      assert.deepEqual(out.outputs, reference.outputs);
    }
    const identity = await fetch(url(), { method: 'POST', body: plain, headers: { 'accept-encoding': 'identity' } });
    assert.equal(identity.headers.get('content-encoding'), null);
  });

  it('a compressed binary body: Inference-Header-Content-Length counts the inflated header', async () => {
    const { body, headers } = binaryInfer(pixels, 32);
    const res = await fetch(url(), { method: 'POST', body: new Uint8Array(gzipSync(body)), headers: { ...headers, 'content-encoding': 'gzip' } });
    assert.equal(res.status, 200);
  });

  it('a decompression bomb is a 413, at the plain limit, not the size it would inflate to', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"inputs": [{"name": "input", "data": ['), Buffer.alloc(64 << 20, 0x20)]));
    assert.ok(bomb.length < 128 << 10, `${bomb.length} bytes on the wire`);
    const res = await fetch(url(), { method: 'POST', body: new Uint8Array(bomb), headers: { 'content-encoding': 'gzip' } });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, 'PARETO_ERR_PAYLOAD_TOO_LARGE');
  });

  it('an inflated body nesting too deep is the 400 a plain one gets', async () => {
    const deep = gzipSync(Buffer.alloc(512 << 10, '['));
    const res = await fetch(url(), { method: 'POST', body: new Uint8Array(deep), headers: { 'content-encoding': 'gzip' } });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 'PARETO_ERR_JSON_TOO_DEEP');
  });

  it('an unknown coding is a 415 before the body is read; a corrupt one a 400', async () => {
    const br = await fetch(url(), { method: 'POST', body: plain, headers: { 'content-encoding': 'br' } });
    assert.equal(br.status, 415);
    assert.equal((await br.json()).code, 'PARETO_ERR_UNSUPPORTED_ENCODING');
    const corrupt = await fetch(url(), { method: 'POST', body: plain, headers: { 'content-encoding': 'gzip' } });
    assert.equal(corrupt.status, 400);
    assert.equal((await corrupt.json()).code, 'PARETO_ERR_MALFORMED_ENCODING');
  });

  it('gRPC: messages compressed with deflate or gzip get the plain answer; one that inflates past the limit is RESOURCE_EXHAUSTED', async () => {
    const request = (rows: number, data: Buffer) => ({ model_name: 'mnist-mlp', model_version: 'fp32', inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 784] }], raw_input_contents: [data] });
    const infer = (client: grpc.Client, req: object) => new Promise<{ error?: grpc.ServiceError; bytes?: Buffer }>((resolve) => {
      (client as unknown as Record<string, Function>).ModelInfer(req, (error: grpc.ServiceError | null, res: { raw_output_contents: Buffer[] }) => resolve(error ? { error } : { bytes: res.raw_output_contents[0] }));
    });
    const Client = inferenceService();
    const plainClient = new Client(server.grpcAddress, grpc.credentials.createInsecure());
    const raw = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
    const reference = (await infer(plainClient, request(32, raw))).bytes!;
    plainClient.close();
    for (const algorithm of [1, 2]) { // grpc-js: 1 deflate, 2 gzip
      const client = new Client(server.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': algorithm });
      try {
        assert.deepEqual((await infer(client, request(32, raw))).bytes, reference, `algorithm ${algorithm}`);
        // 32 MiB of zeros, a few tens of KiB on the wire.
        const bomb = await infer(client, request(10_700, Buffer.alloc(10_700 * 784 * 4)));
        assert.equal(bomb.error?.code, grpc.status.RESOURCE_EXHAUSTED, `algorithm ${algorithm}: ${bomb.error?.details}`);
      } finally {
        client.close();
      }
    }
  });
});
