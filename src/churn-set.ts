// A set for what the server adds and removes once per request or connection (bodies arriving,
// sockets). V8's Map and Set keep what was removed from them alive through scavenges until the
// next full collection: a long-lived Map with entries set and deleted per request made every
// scavenge promote what those entries pointed to (each request's whole graph). Measured in a plain
// Node 20 loop, 200 entries set and deleted per turn for 4 s: a Map promoted 830–880 MB and ran
// 66–79 mark-compacts; this slot array, an object or a WeakMap promoted 0.1 MB and ran none. Under
// a 1-row flood the server's scavenges took 11–25 ms on average and promoted 2.7–4.5 MB each; with
// no Map or Set on the request path, 2–3 ms and 0.1 MB (bench/RESULTS.md, bench:abuse).
export class ChurnSet<T extends object> implements Iterable<T> {
  private readonly items: (T | undefined)[] = [];
  private readonly free: number[] = [];
  private readonly slots = new WeakMap<T, number>();
  private count = 0;

  add(item: T): void {
    if (this.slots.has(item)) return;
    const slot = this.free.pop() ?? this.items.length;
    this.items[slot] = item;
    this.slots.set(item, slot);
    this.count++;
  }

  delete(item: T): boolean {
    const slot = this.slots.get(item);
    if (slot === undefined) return false;
    this.slots.delete(item);
    this.items[slot] = undefined;
    this.free.push(slot);
    this.count--;
    return true;
  }

  has(item: T): boolean {
    return this.slots.has(item);
  }

  get size(): number {
    return this.count;
  }

  /** What is in the set; deleting during the walk is safe, and an item added during it may be skipped. */
  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.items.length; i++) {
      const item = this.items[i];
      if (item !== undefined) yield item;
    }
  }

  clear(): void {
    for (const item of this) this.slots.delete(item);
    this.items.length = 0;
    this.free.length = 0;
    this.count = 0;
  }
}

/**
 * The same for entries looked up by a number (a stream's id, a call's): kept by id in a plain
 * object, which does not keep what was deleted from it. The operations Node's SafeMap offers its
 * HTTP/2 session for its streams (grpc/stream-table.ts).
 */
export class ChurnTable<V> {
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
