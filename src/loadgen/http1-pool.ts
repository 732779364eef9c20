// The load generator's HTTP/1.1 client: keep-alive connections that send one prepared request's
// bytes (head and body in one buffer, built once) and read back only the status and the headers
// the reports use. Written by hand because the generator shares the cores with the server it
// measures: undici's Pool cost 330–360 µs of CPU per 100 KB request here (bench:tradeoff's
// bursts, 1,450 requests/s: half a core), which is what the server then lacked at a burst's onset
// (bench/RESULTS.md). This one reads Content-Length and chunked bodies and honours
// `connection: close`; it is not a general client (no redirects, no upgrades, no 1xx bodies).
import { connect, type Socket } from 'node:net';

export interface Http1Reply {
  status: number;
  /** Only the headers asked for, by lower-case name. */
  headers: Record<string, string>;
}

export class Http1Error extends Error {
  readonly code = 'PARETO_ERR_LOADGEN_HTTP';
}

type Waiter = { resolve: (r: Http1Reply) => void; reject: (e: Error) => void };

/** Where a response's body stands: its bytes are skipped, never kept. */
type BodyState = 'head' | 'fixed' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'until-close';

const CRLF2 = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/** One connection: at most one request in flight (no pipelining: a slow answer holds up only its own). */
class Connection {
  readonly socket: Socket;
  private waiter?: Waiter;
  private state: BodyState = 'head';
  /** Bytes of a head or of a chunk-size / trailer line that arrived split across reads. */
  private partial: Buffer = EMPTY;
  private reply?: Http1Reply;
  /** Body bytes still to skip in 'fixed', 'chunk-data' (its data) or 'chunk-end' (its CRLF). */
  private remaining = 0;
  private closeAfter = false;
  private dead = false;

  constructor(host: string, port: number, private readonly wanted: readonly string[], private readonly onFree: (c: Connection) => void, private readonly onDead: (c: Connection) => void) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (d) => this.read(d));
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => this.state === 'until-close' && this.reply ? this.finish() : this.fail(new Http1Error('the server closed the connection')));
  }

  send(bytes: Buffer, waiter: Waiter): void {
    this.waiter = waiter;
    this.socket.write(bytes);
  }

  private read(data: Buffer): void {
    let d = data;
    while (d.length && !this.dead) {
      if (!this.waiter) return this.fail(new Http1Error('the server sent bytes no request asked for'));
      const at = this.state === 'head' ? this.readHead(d) : this.readBody(d);
      d = d.subarray(at);
      if (this.reply && this.state === 'head') this.finish();
    }
  }

  /** A line or head that ends with `end`, gathered across reads; returns [its text, bytes of d used] or undefined. */
  private gather(d: Buffer, end: Buffer | number, limit: number): [string, number] | undefined {
    const joined = this.partial.length ? Buffer.concat([this.partial, d]) : d;
    const found = joined.indexOf(end);
    const size = typeof end === 'number' ? 1 : end.length;
    if (found < 0) {
      if (joined.length > limit) this.fail(new Http1Error(`a response line or head over ${limit} bytes`));
      else this.partial = Buffer.from(joined);
      return undefined;
    }
    const used = found + size - this.partial.length;
    const text = joined.toString('latin1', 0, found);
    this.partial = EMPTY;
    return [text, used];
  }

  /** Reads the status line and headers; returns the bytes of `d` used. */
  private readHead(d: Buffer): number {
    const got = this.gather(d, CRLF2, 64 * 1024);
    if (!got) return d.length;
    const lines = got[0].split('\r\n');
    const status = Number(lines[0].slice(9, 12));
    if (!lines[0].startsWith('HTTP/1.') || !Number.isInteger(status) || status < 100) {
      this.fail(new Http1Error(`not an HTTP/1.x status line: ${lines[0].slice(0, 40)}`));
      return d.length;
    }
    if (status < 200) return got[1]; // an interim answer (100 Continue): the real one follows
    const headers: Record<string, string> = {};
    let length: number | undefined;
    let chunked = false;
    let connection = lines[0].startsWith('HTTP/1.0') ? 'close' : 'keep-alive';
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':');
      const name = lines[i].slice(0, colon).trim().toLowerCase();
      const value = lines[i].slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = /chunked/i.test(value);
      else if (name === 'connection') connection = value.toLowerCase();
      if (this.wanted.includes(name)) headers[name] = value;
    }
    this.reply = { status, headers };
    this.closeAfter = connection === 'close';
    if (status === 204 || status === 304 || (!chunked && length === 0)) this.state = 'head';
    else if (chunked) this.state = 'chunk-size';
    else if (length !== undefined && Number.isSafeInteger(length) && length > 0) { this.state = 'fixed'; this.remaining = length; }
    else { this.state = 'until-close'; this.closeAfter = true; }
    return got[1];
  }

  /** Skips body bytes; returns the bytes of `d` used (the rest belong to the next response). */
  private readBody(d: Buffer): number {
    switch (this.state) {
      case 'until-close': return d.length;
      case 'fixed': case 'chunk-data': case 'chunk-end': {
        const n = Math.min(this.remaining, d.length);
        this.remaining -= n;
        if (this.remaining === 0) {
          if (this.state === 'chunk-data') { this.state = 'chunk-end'; this.remaining = 2; }
          else this.state = this.state === 'fixed' ? 'head' : 'chunk-size';
        }
        return n;
      }
      case 'chunk-size': case 'trailer': {
        const got = this.gather(d, 10, 4096);
        if (!got) return d.length;
        const line = got[0].trim();
        if (this.state === 'trailer') { if (line === '') this.state = 'head'; return got[1]; }
        const size = parseInt(line, 16);
        if (!/^[0-9a-f]+/i.test(line) || !Number.isSafeInteger(size)) { this.fail(new Http1Error(`not a chunk size: ${line.slice(0, 20)}`)); return d.length; }
        if (size === 0) this.state = 'trailer';
        else { this.state = 'chunk-data'; this.remaining = size; }
        return got[1];
      }
      default: return 0;
    }
  }

  private finish(): void {
    const reply = this.reply!, waiter = this.waiter;
    this.reply = undefined;
    this.waiter = undefined;
    this.state = 'head';
    if (this.closeAfter) this.close();
    else this.onFree(this);
    waiter?.resolve(reply);
  }

  /** Ends the connection; the pool hears of it (onDead) once. */
  close(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    this.onDead(this);
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.close();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(e);
  }
}

export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: { bytes: Buffer; waiter: Waiter }[] = [];
  /** Set once close() is called: told when the last connection is gone. */
  private closed?: () => void;

  /** `wanted`: the response headers to return, in lower case. */
  constructor(private readonly host: string, private readonly port: number, private readonly maxConnections: number, private readonly wanted: readonly string[] = []) {}

  /** Sends a whole prepared request (head and body) and resolves with its answer's status and headers. */
  request(bytes: Buffer): Promise<Http1Reply> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Http1Error('the pool is closed'));
      const waiter = { resolve, reject };
      const c = this.idle.pop() ?? (this.all.size < this.maxConnections ? this.open() : undefined);
      if (c) c.send(bytes, waiter);
      else this.queue.push({ bytes, waiter });
    });
  }

  private open(): Connection {
    const c = new Connection(this.host, this.port, this.wanted, (free) => this.free(free), (dead) => this.drop(dead));
    this.all.add(c);
    return c;
  }

  private free(c: Connection): void {
    const next = this.queue.shift();
    if (next) c.send(next.bytes, next.waiter);
    else if (this.closed) c.close();
    else this.idle.push(c);
  }

  private drop(c: Connection): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    const next = this.queue.shift();
    if (next) this.open().send(next.bytes, next.waiter);
    else if (this.closed && this.all.size === 0) this.closed();
  }

  /** Closes the connections once the requests sent or queued have their answers (as undici's Pool does). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.closed = resolve;
      for (const c of this.idle.splice(0)) c.close();
      if (this.all.size === 0) resolve();
    });
  }
}
