// A binary min-heap on a key and a tie-break: the per-tenant EDF queues. Equal keys leave in
// tie-break order; without it, requests with no deadline (key Infinity) left in heap order, not
// arrival order, and some waited behind hundreds that came later (p99 ~1 s at c=64, issue #16).
export class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly key: (item: T) => number, private readonly tie: (item: T) => number = () => 0) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  private less(a: T, b: T): boolean {
    const ka = this.key(a), kb = this.key(b);
    return ka < kb || (ka === kb && this.tie(a) < this.tie(b));
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(item, a[parent])) break;
      a[i] = a[parent];
      i = parent;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && this.less(a[r], a[l]) ? r : l;
        if (!this.less(a[c], last)) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }

  /** Removes and returns every item (order unspecified). */
  drain(): T[] {
    return this.items.splice(0);
  }
}
