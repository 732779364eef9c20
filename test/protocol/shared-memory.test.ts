// Triton's system shared-memory extension, with real POSIX shared-memory objects in /dev/shm (what
// shm_open creates): inputs read from a region and outputs written into one give the same bytes as
// binary HTTP; regions are private to the tenant that registered them; hostile keys, bounds and
// sizes get clear errors; a server not started with --allow-client-shm refuses it all.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { hashKey } from '../../src/tenancy/tenants.js';
import { grpcClient } from '../helpers/grpc-client.js';
import { binaryInfer, digits, parseBinaryResponse, startTestServer, type TestServer } from '../helpers/server.js';

const SHM = '/dev/shm';
const shmAvailable = existsSync(SHM);
const tag = `pareto-test-${process.pid}`;
const created: string[] = [];
/** A shared-memory object of `bytes` (as a client's shm_open + ftruncate + mmap would leave it); returns its key. */
function shmObject(name: string, bytes: Uint8Array | number): string {
  const path = join(SHM, `${tag}-${name}`);
  writeFileSync(path, typeof bytes === 'number' ? Buffer.alloc(bytes) : bytes);
  created.push(path);
  return `/${tag}-${name}`;
}
const shmPath = (key: string) => join(SHM, key.slice(1));

let server: TestServer;
let closed: TestServer;
let rpc: ReturnType<typeof grpcClient>;
before(async () => {
  if (!shmAvailable) return;
  const tenantsYaml = `tenants:
  - { id: alpha, keys: ["${hashKey('alpha-key')}"], models: [mnist-mlp] }
  - { id: beta, keys: ["${hashKey('beta-key')}"], models: [mnist-mlp] }
`;
  // 1 MiB bodies: inputs in shared memory are held to the same limit.
  server = await startTestServer({ tenantsYaml, allowClientShm: true, maxBodyBytes: 1024 * 1024, executors: 1 });
  closed = await startTestServer({ tenantsYaml, executors: 1 });
  rpc = grpcClient(server.grpcAddress);
});
after(async () => {
  rpc?.close();
  await server?.close();
  await closed?.close();
  for (const p of created) rmSync(p, { force: true });
});

const { pixels } = digits(40, 3);
const inputBytes = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
const LOGITS_BYTES = 3 * 10 * 4;
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const bearer = (key: string) => { const md = new grpc.Metadata(); md.set('authorization', `Bearer ${key}`); return md; };

async function call(s: TestServer, method: string, path: string, key: string | undefined, body?: unknown) {
  const res = await fetch(`${s.url}${path}`, { method, headers: key ? auth(key) : {}, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: await res.json() as any };
}
const register = (name: string, key: string, byteSize: number, offset = 0, caller = 'alpha-key', s = server) =>
  call(s, 'POST', `/v2/systemsharedmemory/region/${encodeURIComponent(name)}/register`, caller, { key, offset, byte_size: byteSize });
const unregister = (name?: string, caller = 'alpha-key') => call(server, 'POST', name ? `/v2/systemsharedmemory/region/${name}/unregister` : '/v2/systemsharedmemory/unregister', caller);

/** A JSON infer request with its input (and optionally its output) in shared memory. */
function shmInfer(input: { region: string; byteSize: number; offset?: number }, output?: { region: string; byteSize: number; offset?: number }, caller = 'alpha-key', s = server) {
  const params = (r: { region: string; byteSize: number; offset?: number }) => ({ shared_memory_region: r.region, shared_memory_byte_size: r.byteSize, ...(r.offset !== undefined ? { shared_memory_offset: r.offset } : {}) });
  return call(s, 'POST', '/v2/models/mnist-mlp/versions/fp32/infer', caller, {
    inputs: [{ name: 'input', shape: [3, 784], datatype: 'FP32', parameters: params(input) }],
    ...(output ? { outputs: [{ name: 'logits', parameters: params(output) }] } : {}),
  });
}

/** The logits' bytes as binary HTTP returns them for the same digits: the reference. */
async function binaryLogits(): Promise<Buffer> {
  const { body, headers } = binaryInfer(pixels, 3);
  const res = await fetch(`${server.url}/v2/models/mnist-mlp/versions/fp32/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, ...auth('alpha-key') } });
  assert.equal(res.status, 200);
  return parseBinaryResponse(Buffer.from(await res.arrayBuffer()), Number(res.headers.get('inference-header-content-length'))).binary;
}

describe('system shared memory', { skip: shmAvailable ? false : `${SHM} does not exist on this machine` }, () => {
  it('REST: input read from a region and output written into one equal binary HTTP, byte for byte', async () => {
    const reference = await binaryLogits();
    // The input at an offset inside both the object and the region, to check the offsets add up.
    const inKey = shmObject('rest-in', Buffer.concat([Buffer.alloc(100, 7), inputBytes, Buffer.alloc(50, 7)]));
    const outKey = shmObject('rest-out', 64 + LOGITS_BYTES + 16);
    assert.equal((await register('rest_in', inKey, inputBytes.length + 60, 40)).status, 200);
    assert.equal((await register('rest_out', outKey, 64 + LOGITS_BYTES + 16)).status, 200);

    const { status, body } = await shmInfer({ region: 'rest_in', byteSize: inputBytes.length, offset: 60 }, { region: 'rest_out', byteSize: LOGITS_BYTES + 16, offset: 64 });
    assert.equal(status, 200, JSON.stringify(body));
    const out = body.outputs[0];
    assert.equal(out.data, undefined, 'an output in shared memory carries no data');
    assert.deepEqual(out.parameters, { shared_memory_region: 'rest_out', shared_memory_byte_size: LOGITS_BYTES, shared_memory_offset: 64 });
    assert.deepEqual(out.shape, [3, 10]);
    const written = readFileSync(shmPath(outKey));
    assert.deepEqual(written.subarray(64, 64 + LOGITS_BYTES), reference);
    assert.ok(written.subarray(0, 64).every((b) => b === 0) && written.subarray(64 + LOGITS_BYTES).every((b) => b === 0), 'nothing written outside the output');

    // Input in shared memory, output in the response as usual.
    const plain = await shmInfer({ region: 'rest_in', byteSize: inputBytes.length, offset: 60 });
    assert.deepEqual(Float32Array.from(plain.body.outputs[0].data), new Float32Array(reference.buffer.slice(reference.byteOffset, reference.byteOffset + reference.length)));
  });

  it('gRPC: register, status, infer with raw contents for the other inputs, empty contents for a shared output', async () => {
    const reference = await binaryLogits();
    const inKey = shmObject('grpc-in', inputBytes);
    const outKey = shmObject('grpc-out', LOGITS_BYTES);
    await rpc.call('SystemSharedMemoryRegister', { name: 'g_in', key: inKey, offset: 0, byte_size: inputBytes.length }, bearer('alpha-key'));
    await rpc.call('SystemSharedMemoryRegister', { name: 'g_out', key: outKey, offset: 0, byte_size: LOGITS_BYTES }, bearer('alpha-key'));
    const status = await rpc.call('SystemSharedMemoryStatus', { name: 'g_in' }, bearer('alpha-key'));
    assert.deepEqual(Object.keys(status.regions), ['g_in']);
    assert.deepEqual({ ...status.regions.g_in }, { name: 'g_in', key: inKey, offset: 0, byte_size: inputBytes.length });

    const shm = (region: string, size: number) => ({ shared_memory_region: { string_param: region }, shared_memory_byte_size: { int64_param: size } });
    const res = await rpc.call('ModelInfer', {
      model_name: 'mnist-mlp', model_version: 'fp32',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 784], parameters: shm('g_in', inputBytes.length) }],
      outputs: [{ name: 'logits', parameters: shm('g_out', LOGITS_BYTES) }],
    }, bearer('alpha-key'));
    assert.equal(res.raw_output_contents[0].length, 0);
    assert.equal(res.outputs[0].parameters.shared_memory_byte_size.int64_param, LOGITS_BYTES);
    assert.deepEqual(readFileSync(shmPath(outKey)), reference);

    await rpc.call('SystemSharedMemoryUnregister', { name: 'g_out' }, bearer('alpha-key'));
    const after = await rpc.call('SystemSharedMemoryStatus', { name: '' }, bearer('alpha-key'));
    assert.ok(!('g_out' in after.regions) && 'g_in' in after.regions);
    await assert.rejects(rpc.call('SystemSharedMemoryStatus', { name: 'g_out' }, bearer('alpha-key')), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    await assert.rejects(rpc.call('SystemSharedMemoryStatus', { name: '' }), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
  });

  it('a tenant sees and uses only its own regions, and cannot register a key another tenant holds', async () => {
    const key = shmObject('private', inputBytes);
    assert.equal((await register('mine', key, inputBytes.length)).status, 200);
    assert.equal((await call(server, 'GET', '/v2/systemsharedmemory/region/mine/status', 'beta-key')).status, 404);
    assert.ok(!(await call(server, 'GET', '/v2/systemsharedmemory/status', 'beta-key')).body.some((r: any) => r.name === 'mine'));
    const used = await shmInfer({ region: 'mine', byteSize: inputBytes.length }, undefined, 'beta-key');
    assert.equal(used.status, 404);
    assert.equal(used.body.code, 'PARETO_ERR_SHM_NOT_FOUND');
    const taken = await register('theirs', key, inputBytes.length, 0, 'beta-key');
    assert.deepEqual([taken.status, taken.body.code], [400, 'PARETO_ERR_SHM_INVALID']);
    // Unregistering everything of beta's leaves alpha's region in place.
    assert.equal((await unregister(undefined, 'beta-key')).status, 200);
    assert.equal((await shmInfer({ region: 'mine', byteSize: inputBytes.length })).status, 200);
    assert.equal((await call(server, 'GET', '/v2/systemsharedmemory/status', undefined)).status, 401);
  });

  it('hostile keys, bounds and sizes get 4xx with a code, and nothing is read outside a region', async () => {
    const key = shmObject('bounds', inputBytes);
    const link = join(SHM, `${tag}-link`);
    symlinkSync('/etc/hostname', link);
    created.push(link);
    for (const bad of ['/../etc/passwd', '/a/b', '/..', '', `/${tag}-link`, `/${tag}-missing`, '/x'.repeat(200)]) {
      const r = await register('bad', bad, 4);
      assert.deepEqual([r.status, r.body.code], [400, 'PARETO_ERR_SHM_INVALID'], bad);
    }
    assert.equal((await register('past_end', key, inputBytes.length, 1)).status, 400);
    assert.equal((await register('empty', key, 0)).status, 400);
    assert.equal((await register('bounds', key, inputBytes.length)).status, 200);
    const dup = await register('bounds', key, inputBytes.length);
    assert.deepEqual([dup.status, dup.body.code], [409, 'PARETO_ERR_SHM_EXISTS']);

    const outside = await shmInfer({ region: 'bounds', byteSize: inputBytes.length, offset: 4 });
    assert.deepEqual([outside.status, outside.body.code], [400, 'PARETO_ERR_SHM_INVALID']);
    const wrongSize = await shmInfer({ region: 'bounds', byteSize: inputBytes.length - 4 });
    assert.equal(wrongSize.status, 400, 'the bytes must fit the declared shape');
    const outTooSmall = shmObject('small-out', LOGITS_BYTES);
    assert.equal((await register('small_out', outTooSmall, LOGITS_BYTES)).status, 200);
    const small = await shmInfer({ region: 'bounds', byteSize: inputBytes.length }, { region: 'small_out', byteSize: LOGITS_BYTES - 4 });
    assert.deepEqual([small.status, small.body.code], [400, 'PARETO_ERR_SHM_INVALID']);
    assert.match(small.body.error, /more than its shared_memory_byte_size/);

    const both = await call(server, 'POST', '/v2/models/mnist-mlp/infer', 'alpha-key', {
      inputs: [{ name: 'input', shape: [3, 784], datatype: 'FP32', data: Array.from(pixels), parameters: { shared_memory_region: 'bounds', shared_memory_byte_size: inputBytes.length } }],
    });
    assert.equal(both.status, 400);
    const half = await call(server, 'POST', '/v2/models/mnist-mlp/infer', 'alpha-key', { inputs: [{ name: 'input', shape: [3, 784], datatype: 'FP32', parameters: { shared_memory_region: 'bounds' } }] });
    assert.deepEqual([half.status, half.body.code], [400, 'PARETO_ERR_SHM_INVALID']);

    // An object truncated after registering is refused, not read as zeros.
    truncateSync(shmPath(key), 100);
    const truncated = await shmInfer({ region: 'bounds', byteSize: inputBytes.length });
    assert.deepEqual([truncated.status, truncated.body.code], [400, 'PARETO_ERR_SHM_INVALID']);

    // Over the request's byte limit (here 1 MiB, the body limit): 413 before anything is read.
    const big = shmObject('big', 2 * 1024 * 1024);
    assert.equal((await register('big', big, 2 * 1024 * 1024)).status, 200);
    const tooBig = await call(server, 'POST', '/v2/models/mnist-mlp/infer', 'alpha-key', { inputs: [{ name: 'input', shape: [668, 784], datatype: 'FP32', parameters: { shared_memory_region: 'big', shared_memory_byte_size: 668 * 784 * 4 } }] });
    assert.deepEqual([tooBig.status, tooBig.body.code], [413, 'PARETO_ERR_PAYLOAD_TOO_LARGE']);

    // Unregistered: no longer usable; unregistering a name not held is not an error, as in Triton.
    assert.equal((await unregister('bounds')).status, 200);
    assert.equal((await unregister('bounds')).status, 200);
    assert.equal((await shmInfer({ region: 'bounds', byteSize: inputBytes.length })).status, 404);
  });

  it('off unless the server allows it: every call and parameter refused, and the extension not listed', async () => {
    const key = shmObject('closed', inputBytes);
    const r = await register('x', key, inputBytes.length, 0, 'alpha-key', closed);
    assert.deepEqual([r.status, r.body.code], [403, 'PARETO_ERR_SHM_DISABLED']);
    const used = await shmInfer({ region: 'x', byteSize: inputBytes.length }, undefined, 'alpha-key', closed);
    assert.deepEqual([used.status, used.body.code], [403, 'PARETO_ERR_SHM_DISABLED']);
    assert.ok(!(await call(closed, 'GET', '/v2', undefined)).body.extensions.includes('system_shared_memory'));
    assert.ok((await call(server, 'GET', '/v2', undefined)).body.extensions.includes('system_shared_memory'));
    const cuda = await call(server, 'GET', '/v2/cudasharedmemory/status', 'alpha-key');
    assert.equal(cuda.status, 400);
    assert.match(cuda.body.error, /CUDA/);
  });
});
