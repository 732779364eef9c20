// SIGTERM to a `pareto serve` process at saturation, with keep-alive clients sending back to back,
// an idle keep-alive connection, a half-open one (half its headers) and a slow body: every request
// sent before the signal is answered (200, or 503 PARETO_ERR_SHUTTING_DOWN), none is reset; idle
// and half-open connections close at once; the process exits 0 within the drain deadline + 1 s.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { startRole } from '../../src/cluster/local-cluster.js';
import { binaryInfer, BUNDLED_MODELS, digits } from '../helpers/server.js';

const DRAIN_MS = 2000;
const CLIENTS = 24;

interface Sent { at: number; status?: number; code?: string; closed?: boolean }

/**
 * A keep-alive client on a raw socket: sends the request, reads the answer (Content-Length
 * framing), sends again, until told to stop or the server closes; every request is logged with
 * when it was written and how it ended.
 */
function keepAlive(port: number, request: Buffer, log: Sent[], stopped: () => boolean, onAnswer: () => void): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let pending: Sent | undefined;
    let buffered = Buffer.alloc(0);
    const send = () => {
      if (stopped()) return socket.end();
      pending = { at: performance.now() };
      log.push(pending);
      socket.write(request);
    };
    socket.on('connect', send);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const body = buffered.subarray(end + 4, end + 4 + length).toString('latin1');
        buffered = buffered.subarray(end + 4 + length);
        if (pending) {
          pending.status = Number(head.split(' ')[1]);
          pending.code = /"code":"([A-Z_]+)"/.exec(body)?.[1];
          pending = undefined;
          onAnswer();
        }
        if (/connection: close/i.test(head)) return socket.end();
        send();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (pending) pending.closed = true;
      resolve();
    });
  });
}

async function rawConnection(port: number): Promise<{ socket: Socket; closedAt: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.on('error', () => undefined);
  return { socket, closedAt: once(socket, 'close').then(() => performance.now()) };
}

describe('SIGTERM at saturation', { timeout: 60_000 }, () => {
  it('answers every request sent before the signal, closes idle and half-open connections at once, and exits 0 within the deadline', async () => {
    const server = await startRole(['serve', '--repository', BUNDLED_MODELS, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn',
      '--executors', '1', '--drain-timeout-ms', String(DRAIN_MS), '--min-body-bytes-per-second', '0']);
    const port = server.httpPort;
    const { body, headers } = binaryInfer(digits(0, 8).pixels, 8);
    const head = `POST /v2/models/mnist-mlp/versions/fp32/infer HTTP/1.1\r\nHost: x\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}Content-Length: ${body.length}\r\n\r\n`;
    const request = Buffer.concat([Buffer.from(head, 'latin1'), body]);

    // An idle keep-alive connection (one request answered), a half-open one, and a slow body.
    const idle = await rawConnection(port);
    idle.socket.write(request);
    await once(idle.socket, 'data');
    const halfOpen = await rawConnection(port);
    halfOpen.socket.write('POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Le');
    const slow = await rawConnection(port);
    slow.socket.write(`${head.replace(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`)}`);
    slow.socket.write(body.subarray(0, 100));

    // Keep-alive connections idle until just before the signal, when each sends a request: sent
    // before it, but most likely not read yet when it arrives.
    const lastMoment = await Promise.all(Array.from({ length: 8 }, async () => {
      const c = await rawConnection(port);
      c.socket.write(request);
      await once(c.socket, 'data');
      let text = '';
      c.socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
      return { ...c, text: () => text };
    }));

    // Saturation: clients sending back to back; the signal once 300 answers have come back.
    const log: Sent[] = [];
    let answers = 0;
    let stop = false;
    let saturated!: () => void;
    const reached = new Promise<void>((r) => { saturated = r; });
    const clients = Array.from({ length: CLIENTS }, () => keepAlive(port, request, log, () => stop, () => { if (++answers === 300) saturated(); }));
    await reached;
    for (const c of lastMoment) c.socket.write(request);
    const signalAt = performance.now();
    server.child.kill('SIGTERM');
    const code = await server.exited;
    const exitMs = performance.now() - signalAt;
    stop = true;
    await Promise.all(clients);

    const before = log.filter((s) => s.at < signalAt);
    const after = log.filter((s) => s.at >= signalAt);
    const describe = (xs: Sent[]) => JSON.stringify(xs.reduce<Record<string, number>>((n, s) => { const k = s.closed ? 'closed unanswered' : `${s.status} ${s.code ?? ''}`.trim(); n[k] = (n[k] ?? 0) + 1; return n; }, {}));
    const diagnostics = `before the signal: ${describe(before)}; after: ${describe(after)}; exit after ${exitMs.toFixed(0)} ms`;
    assert.equal(code, 0, diagnostics);
    assert.ok(exitMs <= DRAIN_MS + 1000, diagnostics);
    assert.ok(before.length > 300, diagnostics);
    for (const s of before) {
      assert.ok(!s.closed && (s.status === 200 || (s.status === 503 && s.code === 'PARETO_ERR_SHUTTING_DOWN')), `a request sent before the signal: ${JSON.stringify(s)}; ${diagnostics}`);
    }
    // After it: a 200 if read before the signal was handled, a 503, or a connection closed after its answer.
    for (const s of after) assert.ok(s.closed || s.status === 200 || (s.status === 503 && s.code === 'PARETO_ERR_SHUTTING_DOWN'), `after the signal: ${JSON.stringify(s)}; ${diagnostics}`);
    for (const c of lastMoment) {
      await c.closedAt;
      assert.match(c.text(), /^HTTP\/1\.1 (200|503) /, `a request sent just before the signal on an idle connection was answered: ${JSON.stringify(c.text().slice(0, 80))}`);
    }
    assert.ok((await idle.closedAt) - signalAt < 1000, 'the idle connection closed at once');
    assert.ok((await halfOpen.closedAt) - signalAt < 1000, 'the half-open connection closed at once');
    // The slow body was being read: it keeps its connection until the drain deadline.
    const slowClosed = (await slow.closedAt) - signalAt;
    assert.ok(slowClosed >= DRAIN_MS - 100 && slowClosed <= DRAIN_MS + 1000, `the slow body was cut at the deadline: ${slowClosed.toFixed(0)} ms`);
  });
});
