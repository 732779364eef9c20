// Shutdown answers what it read: idle and half-open connections are closed at once (once what
// clients sent before the signal has been read), requests being answered finish (their answers
// say Connection: close), a request whose body completes after the signal gets 503
// PARETO_ERR_SHUTTING_DOWN, not a reset, and close() returns within the drain deadline whatever
// clients do.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { binaryInfer, BUNDLED_MODELS, digits, startTestServer } from '../helpers/server.js';

/** A raw connection that collects what comes back and notes when it closes. */
async function open(port: number): Promise<{ socket: Socket; text: () => string; closed: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (d) => { text += d.toString('latin1'); });
  socket.on('error', () => undefined);
  const closed = once(socket, 'close').then(() => performance.now());
  return { socket, text: () => text, closed };
}

const request = (body: Buffer, headers: Record<string, string>) =>
  `POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}Content-Length: ${body.length}\r\n\r\n`;

/** A keep-alive connection that has had one request answered, whole; what it received so far is its text. */
async function idleAfterOne(port: number, body: Buffer, headers: Record<string, string>): ReturnType<typeof open> {
  const conn = await open(port);
  conn.socket.write(request(body, headers));
  conn.socket.write(body);
  const whole = () => {
    const end = conn.text().indexOf('\r\n\r\n');
    const length = Number(/content-length: (\d+)/i.exec(conn.text())?.[1]);
    return end >= 0 && conn.text().length >= end + 4 + length;
  };
  while (!whole()) await once(conn.socket, 'data');
  return conn;
}

describe('shutdown', () => {
  it('closes idle and half-open connections at once, answers every request it read, and returns within the drain deadline', async () => {
    const server = await startTestServer({ repository: BUNDLED_MODELS, drainTimeoutMs: 2000 });
    const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
    // An idle keep-alive connection (one request answered), and one with half its headers.
    const idle = await idleAfterOne(server.httpPort, body, headers);
    const half = await open(server.httpPort);
    half.socket.write('POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nX-Half: ');
    // A request whose headers are in and whose body is not yet.
    const pending = await open(server.httpPort);
    pending.socket.write(request(body, headers));
    pending.socket.write(body.subarray(0, 10));
    // A request sent whole just before the signal.
    const whole = await open(server.httpPort);
    whole.socket.write(request(body, headers));
    whole.socket.write(body);
    await new Promise((r) => setTimeout(r, 50)); // let the server read them

    const started = performance.now();
    const closing = server.close();
    pending.socket.write(body.subarray(10));
    const [idleAt, halfAt] = await Promise.all([idle.closed, half.closed]);
    assert.ok(idleAt - started < 1000 && halfAt - started < 1000, `idle and half-open closed at once (${Math.round(idleAt - started)}, ${Math.round(halfAt - started)} ms)`);
    await Promise.all([pending.closed, whole.closed]);
    assert.match(whole.text(), /^HTTP\/1\.1 200/, 'a request read before the signal is answered');
    assert.match(pending.text(), /^HTTP\/1\.1 503/, `a request completed after the signal gets 503, not a reset: ${pending.text().slice(0, 80)}`);
    assert.match(pending.text(), /PARETO_ERR_SHUTTING_DOWN/);
    assert.match(pending.text(), /connection: close/i);
    await closing;
    assert.ok(performance.now() - started < 3000, 'within the drain deadline + 1 s');
  });

  it('a request on an idle keep-alive connection that the server has not read yet is answered, not reset', async () => {
    const server = await startTestServer({ repository: BUNDLED_MODELS, drainTimeoutMs: 2000 });
    const { body, headers } = binaryInfer(digits(0, 1).pixels, 1);
    const conn = await idleAfterOne(server.httpPort, body, headers);
    const first = conn.text().length;
    // On loopback the write lands in the server's socket buffer at once; close() is called in the
    // same turn, before the server's loop has read it: the connection still looks idle.
    conn.socket.write(Buffer.concat([Buffer.from(request(body, headers), 'latin1'), body]));
    const closing = server.close();
    await conn.closed;
    await closing;
    const second = conn.text().slice(first);
    assert.match(second, /^HTTP\/1\.1 (200|503)/, `the second request gets an answer: ${JSON.stringify(conn.text().slice(first, first + 80))}`);
    assert.match(second, /connection: close/i);
  });

  it('a body that never completes is cut at the drain deadline, and close() returns', async () => {
    const server = await startTestServer({ repository: BUNDLED_MODELS, drainTimeoutMs: 1000 });
    const stuck = await open(server.httpPort);
    stuck.socket.write('POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"inputs":');
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await server.close();
    const took = performance.now() - started;
    assert.ok(took >= 900 && took < 2000, `closed after the 1 s deadline, not before and not much after: ${Math.round(took)} ms`);
    await stuck.closed;
  });
});
