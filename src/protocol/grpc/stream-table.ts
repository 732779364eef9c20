// Node's HTTP/2 session keeps its open streams in a Map, set and deleted per stream. V8's Map keeps
// what was deleted alive through scavenges until the next full collection (src/churn-set.ts), so
// every gRPC call's whole graph (stream, grpc-js call, message, our request) was promoted. Measured,
// h2load sending 1,600 1-row calls/s for 30 s beside B (two runs each): 2.3 MB promoted per
// scavenge, 7 mark-compacts, scavenges of 4.8–5.2 ms and B's p99 11–15 ms; with a ChurnTable
// (src/churn-set.ts; four runs), 0.9–1.0 MB, 1–2 mark-compacts, 2.5–2.9 ms and 6.1–7.9 ms.
// Node has no hook for this: each server session's table is swapped, on its 'session' event, for
// one keyed by stream id in a plain object, which does not keep what it deleted. Only where the
// session looks as this was written against (a `state` symbol holding an empty map `streams`, one
// of Node's own SafeMaps, with the operations Node 20 uses on it: get, set, delete, size, forEach);
// otherwise it is left alone.
import http2 from 'node:http2';
import { ChurnTable } from '../../churn-set.js';

/** Swaps a new session's stream table; false where the session is not laid out as expected. */
export function replaceStreamTable(session: http2.Http2Session): boolean {
  const key = Object.getOwnPropertySymbols(session).find((s) => s.description === 'state');
  const state = key && (session as unknown as Record<symbol, { streams?: unknown }>)[key];
  const streams = state?.streams as Record<string, unknown> | undefined;
  // Node's SafeMap is a Map in all but its prototype chain (`instanceof Map` is false).
  if (!state || !streams || streams.size !== 0 || !['get', 'set', 'delete', 'forEach'].every((op) => typeof streams[op] === 'function')) return false;
  state.streams = new ChurnTable();
  return true;
}

let installed = false;

/**
 * From now on, every HTTP/2 server this process creates (grpc-js's among them) gets the table in
 * each of its sessions. Idempotent. grpc-js calls http2.createServer when it binds, so this must run
 * before a gRPC server binds.
 */
export function useStreamTables(): void {
  if (installed) return;
  installed = true;
  const create = http2.createServer;
  (http2 as { createServer: typeof http2.createServer }).createServer = ((...args: Parameters<typeof http2.createServer>) => {
    const server = create(...args);
    server.on('session', (session) => { replaceStreamTable(session); });
    return server;
  }) as typeof http2.createServer;
}
