// Node's HTTP/2 session keeps its open streams in a Map, set and deleted per stream. V8's Map keeps
// what was deleted alive through scavenges until the next full collection (src/churn-set.ts), so
// every gRPC call's whole graph (stream, grpc-js call, message, our request) was promoted. Measured,
// h2load sending 1,600 1-row calls/s for 30 s beside B (two runs each): 2.3 MB promoted per
// scavenge, 7 mark-compacts, scavenges of 4.8–5.2 ms and B's p99 11–15 ms; with the table below
// (four runs), 0.9–1.0 MB, 1–2 mark-compacts, 2.5–2.9 ms and 6.1–7.9 ms.
// Node has no hook for this: each server session's table is swapped, on its 'session' event, for
// one keyed by stream id in a plain object, which does not keep what it deleted. Only where the
// session looks as this was written against (a `state` symbol holding an empty map `streams`, one
// of Node's own SafeMaps, with the operations Node 20 uses on it: get, set, delete, size, forEach);
// otherwise it is left alone.
import http2 from 'node:http2';

/** A session's open streams by id, as Node uses its Map. */
class StreamTable<V> {
  private readonly byId: Record<number, V> = Object.create(null);
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): V | undefined {
    return this.byId[id];
  }

  set(id: number, value: V): this {
    if (this.byId[id] === undefined) this.count++;
    this.byId[id] = value;
    return this;
  }

  delete(id: number): boolean {
    if (this.byId[id] === undefined) return false;
    delete this.byId[id];
    this.count--;
    return true;
  }

  /**
   * As Map's: an entry deleted before its turn is skipped. A socket's close runs this to close
   * every open stream, and closing one can delete another; visiting the gone one crashed the
   * server (bench:door-share, h2load's connection closing under load).
   */
  forEach(fn: (value: V, id: number, table: this) => void): void {
    for (const key of Object.keys(this.byId)) {
      const id = Number(key);
      const value = this.byId[id];
      if (value !== undefined) fn(value, id, this);
    }
  }
}

/** Swaps a new session's stream table; false where the session is not laid out as expected. */
export function replaceStreamTable(session: http2.Http2Session): boolean {
  const key = Object.getOwnPropertySymbols(session).find((s) => s.description === 'state');
  const state = key && (session as unknown as Record<symbol, { streams?: unknown }>)[key];
  const streams = state?.streams as Record<string, unknown> | undefined;
  // Node's SafeMap is a Map in all but its prototype chain (`instanceof Map` is false).
  if (!state || !streams || streams.size !== 0 || !['get', 'set', 'delete', 'forEach'].every((op) => typeof streams[op] === 'function')) return false;
  state.streams = new StreamTable();
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
