// HTTP/2 server sessions get a stream table that does not keep deleted streams alive (V8's Map
// does: every gRPC call was promoted). The swap relies on Node's internals; this says loudly when a
// Node version no longer matches them, and that sessions still work with the table in place.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import { replaceStreamTable, useStreamTables } from '../../src/protocol/grpc/stream-table.js';

let server: http2.Http2Server;
let origin: string;
const tables: string[] = [];
let lastSession: http2.ServerHttp2Session | undefined;
/** Streams the server has seen open and closed; `changed` runs on each. */
const streams = { opened: 0, closed: 0, changed: () => {} };
/** Resolves once `done()` holds, checked whenever the server opens or closes a stream. */
function until(done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    streams.changed = () => { if (done()) resolve(); };
    streams.changed();
  });
}

before(async () => {
  useStreamTables();
  server = http2.createServer();
  server.on('session', (session) => {
    lastSession = session;
    const key = Object.getOwnPropertySymbols(session).find((s) => s.description === 'state')!;
    tables.push((session as unknown as Record<symbol, { streams: object }>)[key].streams.constructor.name);
  });
  // Answers after a turn, so that many streams are open at once; /hold is never answered.
  server.on('stream', (stream, headers) => {
    streams.opened++;
    streams.changed();
    stream.on('close', () => { streams.closed++; streams.changed(); });
    setImmediate(() => {
      if (stream.destroyed || String(headers[':path']).startsWith('/hold')) return;
      stream.respond({ ':status': 200 });
      stream.end(String(headers[':path']));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function get(client: http2.ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':path': path });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
    req.on('close', () => reject(new Error('closed before its end'))); // after 'end', a no-op
  });
}

describe('HTTP/2 stream tables', () => {
  it('replace the Map in every server session on this Node, and 500 streams at once are each answered with their own body', async () => {
    const client = http2.connect(origin);
    try {
      const paths = Array.from({ length: 500 }, (_, i) => `/${i}`);
      assert.deepEqual(await Promise.all(paths.map((p) => get(client, p))), paths);
      assert.deepEqual(await Promise.all(paths.slice(0, 10).map((p) => get(client, p))), paths.slice(0, 10), 'the session goes on after its streams closed');
    } finally {
      client.close();
    }
    assert.deepEqual(tables, ['ChurnTable'], 'Node\'s session no longer looks as src/protocol/grpc/stream-table.ts expects: check its internals');
  });

  it('a server session destroyed with streams open closes every one of them', { timeout: 20_000 }, async () => {
    const client = http2.connect(origin);
    client.on('error', () => undefined);
    const before = streams.opened;
    const open = Array.from({ length: 20 }, (_, i) => get(client, `/hold/${i}`).catch(() => ''));
    await until(() => streams.opened === before + 20);
    // Node walks the session's table (forEach) to destroy what is open.
    lastSession!.destroy();
    await until(() => streams.closed === streams.opened);
    assert.deepEqual(await Promise.all(open), Array(20).fill(''), 'closed without an answer');
    // And the server still serves a new session.
    const next = http2.connect(origin);
    try {
      assert.equal(await get(next, '/again'), '/again');
    } finally {
      next.close();
    }
  });

  it('walks its streams as a Map does: one deleted while the walk runs is not visited', () => {
    // A socket's close walks the table to close each stream, and closing one can delete another
    // (under h2load's connection closing, the walk reached a deleted one and the server crashed).
    const walk = (table: { set(id: number, v: string): unknown; delete(id: number): boolean; forEach(fn: (v: string, id: number) => void): void }) => {
      for (const [id, v] of [[1, 'a'], [3, 'b'], [5, 'c'], [7, 'd']] as const) table.set(id, v);
      const seen: string[] = [];
      table.forEach((v, id) => {
        seen.push(v);
        if (id === 1) table.delete(5);
        if (id === 3) table.delete(3);
      });
      return seen;
    };
    const state = Symbol('state');
    const session = { [state]: { streams: new Map() } };
    assert.ok(replaceStreamTable(session as unknown as http2.Http2Session));
    const table = session[state].streams as unknown as Parameters<typeof walk>[0];
    assert.deepEqual(walk(table), walk(new Map()));
    assert.deepEqual(walk(new Map()), ['a', 'b', 'd']);
  });
});
