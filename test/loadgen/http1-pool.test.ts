import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { Http1Error, Http1Pool } from '../../src/loadgen/http1-pool.js';

const servers: { close(): unknown }[] = [];
after(() => { for (const s of servers) s.close(); });

/** A raw TCP server: `answer` writes whatever bytes a test wants for each request head it reads. */
async function rawServer(answer: (socket: Socket, n: number) => void): Promise<{ port: number; connections: () => number; server: Server }> {
  let connections = 0;
  let requests = 0;
  const server = createServer((socket) => {
    connections++;
    let seen = '';
    socket.on('data', (d) => {
      seen += d.toString('latin1');
      // Requests here have no body: each head ends the request.
      for (let end = seen.indexOf('\r\n\r\n'); end >= 0; end = seen.indexOf('\r\n\r\n')) {
        seen = seen.slice(end + 4);
        answer(socket, requests++);
      }
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { port: (server.address() as { port: number }).port, connections: () => connections, server };
}

const GET = Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n');

/** Writes `bytes` one byte per socket write, each after the last has left: a response split everywhere. */
async function trickle(socket: Socket, bytes: string): Promise<void> {
  for (const b of Buffer.from(bytes, 'latin1')) {
    if (!socket.write(Buffer.from([b]))) await once(socket, 'drain');
    await new Promise((r) => setImmediate(r));
  }
}

describe('the load generator\'s HTTP/1.1 pool', () => {
  it('reads status and the asked-for headers, and keeps one connection alive for sequential requests', async () => {
    const server = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'Pareto-Variant': 'int8', 'pareto-accuracy': '0.98', other: 'x', 'content-length': 5 });
      res.end('hello');
    });
    let connections = 0;
    server.on('connection', () => connections++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    const pool = new Http1Pool('127.0.0.1', (server.address() as { port: number }).port, 8, ['pareto-variant', 'pareto-accuracy']);
    const body = Buffer.alloc(100_000, 7);
    const post = Buffer.concat([Buffer.from(`POST /infer HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n`), body]);
    for (let i = 0; i < 20; i++) assert.deepEqual(await pool.request(post), { status: 200, headers: { 'pareto-variant': 'int8', 'pareto-accuracy': '0.98' } });
    assert.equal(connections, 1);
    await pool.close();
  });

  it('reads a chunked answer, with a trailer, split at every byte, and the next answer on the same connection', async () => {
    const s = await rawServer((socket, n) => {
      void trickle(socket, n === 0
        ? 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5\r\nhello\r\na;ext=1\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n'
        : 'HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nnot');
    });
    const pool = new Http1Pool('127.0.0.1', s.port, 4, ['x-a']);
    assert.deepEqual(await pool.request(GET), { status: 201, headers: { 'x-a': '1' } });
    assert.deepEqual(await pool.request(GET), { status: 404, headers: {} });
    assert.equal(s.connections(), 1);
    await pool.close();
  });

  it('drops a connection whose server sends bytes beyond its answer, and sends the next request on a fresh one', async () => {
    const s = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 500 Unasked\r\ncontent-length: 0\r\n\r\n'));
    const pool = new Http1Pool('127.0.0.1', s.port, 1);
    assert.equal((await pool.request(GET)).status, 200);
    assert.equal((await pool.request(GET)).status, 200);
    assert.equal(s.connections(), 2);
    await pool.close();
  });

  it('skips an interim 100 answer; reads 204 and 304 without a body', async () => {
    const answers = ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx', 'HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'];
    const s = await rawServer((socket, n) => socket.write(answers[n]));
    const pool = new Http1Pool('127.0.0.1', s.port, 1);
    assert.deepEqual(await Promise.all(answers.map(() => pool.request(GET).then((r) => r.status))), [200, 204, 304, 200]);
    assert.equal(s.connections(), 1);
    await pool.close();
  });

  it('opens a new connection after `connection: close`, and reads a body that ends when the server closes', async () => {
    const s = await rawServer((socket, n) => {
      if (n === 0) socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok');
      else socket.end('HTTP/1.0 202 Accepted\r\n\r\nuntil the end');
    });
    const pool = new Http1Pool('127.0.0.1', s.port, 1);
    assert.equal((await pool.request(GET)).status, 200);
    assert.equal((await pool.request(GET)).status, 202);
    assert.equal((await pool.request(GET)).status, 202);
    assert.equal(s.connections(), 3);
    await pool.close();
  });

  it('fails a request whose connection drops before its answer ends, and the next request gets a fresh connection', async () => {
    const s = await rawServer((socket, n) => {
      if (n === 0) socket.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
    const pool = new Http1Pool('127.0.0.1', s.port, 1);
    await assert.rejects(pool.request(GET), Http1Error);
    assert.equal((await pool.request(GET)).status, 200);
    await pool.close();
  });

  it('refuses what is not HTTP/1.x, and a bad chunk size', async () => {
    const s = await rawServer((socket, n) => socket.write(n === 0 ? 'SSH-2.0-OpenSSH\r\n\r\n' : 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'));
    const pool = new Http1Pool('127.0.0.1', s.port, 1);
    await assert.rejects(pool.request(GET), /not an HTTP\/1.x status line: SSH-2.0/);
    await assert.rejects(pool.request(GET), /not a chunk size: zz/);
    await pool.close();
  });

  it('queues past its connection limit, and close() waits for every answer', async () => {
    const held: Socket[] = [];
    const s = await rawServer((socket) => held.push(socket));
    const pool = new Http1Pool('127.0.0.1', s.port, 2);
    const replies = Array.from({ length: 6 }, () => pool.request(GET));
    const closed = pool.close();
    let isClosed = false;
    void closed.then(() => { isClosed = true; });
    await assert.rejects(pool.request(GET), /the pool is closed/);
    // Answer whatever is held, a request at a time, until all six are answered.
    for (let answered = 0; answered < 6; answered++) {
      while (!held.length) await new Promise((r) => setImmediate(r));
      assert.equal(isClosed, false, `closed after ${answered} answers`);
      held.shift()!.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    }
    assert.deepEqual((await Promise.all(replies)).map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    await closed;
    assert.equal(s.connections(), 2);
  });
});
