// The body sink (src/protocol/rest/body-sink.ts) on its real thread: a body comes back exactly as
// its chunks were written, wherever it starts and however it was cut; a slow thread holds the
// writer back; a dropped or lost body is refused, and the sink goes on.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { BodySink } from '../../src/protocol/rest/body-sink.js';
import { isParetoError } from '../../src/errors.js';

const sink = new BodySink(0);
after(() => sink.close());

/** Deterministic bytes. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Cuts `body` into chunks of the given sizes (cycled), each a buffer of its own or a view into a larger one. */
function cut(body: Buffer, sizes: number[], views: boolean): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length], body.length - at);
    const own = Buffer.from(body.subarray(at, at + n)); // its own ArrayBuffer? not always: small ones share Node's slab
    out.push(views ? Buffer.concat([Buffer.alloc(3), own]).subarray(3) : own);
    at += n;
  }
  return out;
}

/** Writes chunks as a paused stream would: waits for `drained` when told to. */
async function gather(body: Buffer, chunks: Buffer[], start: number): Promise<Buffer> {
  const s = sink.open(body.length, start)!;
  for (const c of chunks) {
    if (!s.write(c)) await new Promise<void>((resolve) => s.drained(resolve));
  }
  const buffer = await s.finish();
  assert.equal(buffer.byteLength, start + body.length);
  return Buffer.from(buffer, start, body.length);
}

describe('body sink', () => {
  it('gives back exactly what was written, from its start, for chunks of any size, own buffers or views', async () => {
    for (const [size, sizes, start, views] of [
      [9 * 1024 * 1024, [65536], 0, false],
      [9 * 1024 * 1024 + 5, [65340, 1, 7, 200_000], 3, false],
      [3 * 1024 * 1024, [4096, 65536, 13], 7, true],
      [1, [1], 0, false],
    ] as const) {
      const body = bytes(size, size);
      const got = await gather(body, cut(body, [...sizes], views), start);
      assert.ok(got.equals(body), `${size} bytes from ${start}, chunks ${sizes.join('/')}${views ? ' (views)' : ''}`);
    }
  });

  it('bodies gathered at once stay apart', async () => {
    const bodies = [1, 2, 3, 4].map((k) => bytes(2 * 1024 * 1024 + k, 100 + k));
    const got = await Promise.all(bodies.map((b, k) => gather(b, cut(b, [65536 + k * 1000], false), k)));
    for (const [k, b] of bodies.entries()) assert.ok(got[k].equals(b), `body ${k}`);
  });

  it('a writer more than a MiB ahead of the thread is told to wait, and told when to go on', async () => {
    const s = sink.open(8 * 1024 * 1024, 0)!;
    const chunk = () => Buffer.from(bytes(65536, 9));
    let accepted = 0;
    while (accepted < 64 && s.write(chunk())) accepted++;
    assert.equal(accepted, 15, "15 chunks of 64 KiB go before the first wait: the 16th makes a MiB");
    await new Promise<void>((resolve) => s.drained(resolve));
    assert.equal(s.write(chunk()), true);
    s.drop();
  });

  it('a writer told to wait is told to go on every time, however many chunks came back at once', async () => {
    // Chunks come back to be freed 16 at a time; a chunk's size read after it was freed was 0, and
    // a body's backlog grew by it until its writer, once told to wait, never was told to go on.
    const s = sink.open(48 * 1024 * 1024, 0)!;
    for (let round = 0; round < 12; round++) {
      for (let k = 0; k < 64; k++) s.write(Buffer.from(bytes(65536, round)));
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`round ${round}: the writer was never told to go on`)), 10_000); });
      await Promise.race([new Promise<void>((resolve) => s.drained(resolve)), stuck]).finally(() => clearTimeout(timer));
    }
    s.drop();
  });

  it('a reader waiting on a body that is dropped is told to go on (its rest is read and dropped)', () => {
    const s = sink.open(8 * 1024 * 1024, 0)!;
    for (let k = 0; k < 64 && s.write(Buffer.from(bytes(65536, 8))); k++);
    let resumed = false;
    s.drained(() => { resumed = true; });
    assert.equal(resumed, false, 'the thread is a MiB behind');
    s.drop();
    assert.equal(resumed, true);
  });

  it('a written chunk is moved, not shared: it reads as empty after', () => {
    const s = sink.open(65536, 0)!;
    const c = Buffer.from(bytes(65536, 5));
    s.write(c);
    assert.equal(c.length, 0);
    s.drop();
  });

  it('a dropped body cannot be finished, and a body cannot be finished twice', async () => {
    const s = sink.open(1024, 0)!;
    s.write(bytes(1024, 1));
    s.drop();
    await assert.rejects(s.finish(), /already finished or dropped/);
    const t = sink.open(16, 0)!;
    t.write(bytes(16, 2));
    await t.finish();
    await assert.rejects(t.finish(), /already finished or dropped/);
  });

  it('a body on a thread that is gone is refused with a 503 to retry, and the next body gets a new thread', async () => {
    const s = sink.open(1024, 0)!;
    s.write(bytes(1024, 3));
    // The thread dies as an out-of-memory or a crash would end it.
    await (sink as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await assert.rejects(s.finish(), (e: unknown) => isParetoError(e) && e.httpStatus === 503 && /retry/.test(e.message));
    const body = bytes(300_000, 4);
    assert.ok((await gather(body, cut(body, [65536], false), 0)).equals(body));
  });

  it('a closed sink opens no body (the server gathers it on the event loop instead)', async () => {
    const closed = new BodySink(0);
    assert.ok(closed.open(16, 0));
    await closed.close();
    assert.equal(closed.open(16, 0), undefined);
  });
});
