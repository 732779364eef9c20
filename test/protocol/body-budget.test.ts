// Request bodies hold memory from their headers on: a tenant that opens bodies and never finishes
// them meets its own budget (429), the server's budget bounds everyone (503), and other tenants are
// served meanwhile; closing the connections gives the memory back.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { hashKey } from '../../src/tenancy/tenants.js';
import { binaryInfer, digits, startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/cluster.js';

const MiB = 1024 * 1024;
let server: TestServer;

before(async () => {
  server = await startTestServer({ tenantsYaml: `tenants:\n${['a', 'b'].map((t) => `  - id: ${t}\n    keys: ["${hashKey(`${t}-key`)}"]\n    models: ["*"]\n`).join('')}`, maxInflightBodyBytes: 8 * MiB, maxTenantBodyBytes: 5 * MiB });
});
after(async () => { await server.close(); });

/** Sends headers declaring `bytes` and 1 KiB of body, then waits; resolves with the status if one comes. */
async function hold(key: string, bytes: number): Promise<{ socket: Socket; status: Promise<number> }> {
  const socket = connect(server.httpPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: 10\r\nContent-Length: ${bytes}\r\n\r\n`);
  socket.write(Buffer.alloc(1024, 0x20));
  const status = new Promise<number>((resolve) => {
    socket.once('data', (d) => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(d.toString())?.[1])));
    socket.once('close', () => resolve(0));
  });
  return { socket, status };
}

const small = (key: string) => {
  const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
  return fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers: { ...headers, authorization: `Bearer ${key}` } });
};

describe('in-flight body bytes', () => {
  it('bound each tenant and the server from the first byte, and are given back when connections close', async () => {
    const first = await hold('a-key', 4 * MiB);
    const second = await hold('a-key', 4 * MiB);
    assert.equal(await second.status, 429, "a's second held body passes a's 5 MiB");
    assert.equal((await small('b-key')).status, 200, 'b is served while a holds its body');
    const third = await hold('b-key', 4.5 * MiB);
    assert.equal(await third.status, 503, "a's 4 MiB and b's 4.5 MiB pass the server's 8 MiB");
    for (const s of [first.socket, second.socket, third.socket]) s.destroy();
    // Given back: b's whole 4.5 MiB body is now read and decoded (a 400 for its stray bytes), not refused.
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], parameters: { binary_data_size: 3136 } }] }));
    const big = new Uint8Array(Buffer.concat([header, Buffer.alloc(4.5 * MiB - header.length)]));
    const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length), authorization: 'Bearer b-key' };
    await until(async () => (await fetch(`${server.url}/v2/models/mnist-mlp/infer`, { method: 'POST', body: big, headers })).status === 400, 5000, 'the held bodies are given back');
  });
});

describe('slow clients', () => {
  it('a body that stops half way, or headers that never end, get 408 and the connection closed', async () => {
    const slow = await startTestServer({ requestTimeoutMs: 600, headersTimeoutMs: 300 });
    try {
      const answer = async (first: string) => {
        const socket = connect(slow.httpPort, '127.0.0.1');
        await once(socket, 'connect');
        socket.write(first);
        let text = '';
        socket.on('data', (d) => { text += d.toString(); });
        await once(socket, 'close');
        return /^HTTP\/1\.1 (\d+)/.exec(text)?.[1];
      };
      assert.equal(await answer('POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"inputs":'), '408');
      assert.equal(await answer('POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nX-Half: '), '408');
    } finally {
      await slow.close();
    }
  });
});
