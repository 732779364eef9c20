// A floor on how fast a REST body arrives. Timeouts alone let a client hold a body's memory (and a
// tenant's concurrency) for the whole request timeout by sending a byte now and then; a body that
// is still arriving after its first second must have averaged at least `minBytesPerSecond`, or it
// is answered 408 and its connection closed. Checked once a second for all bodies together, so a
// body costs no timer of its own.
import { ParetoError } from '../../errors.js';
import { status as GrpcStatus } from '@grpc/grpc-js';

/** The body arrived too slowly (408); its connection is closed after the answer. */
export class BodyTooSlowError extends ParetoError {
  constructor(bytes: number, seconds: number, floor: number) {
    super('PARETO_ERR_BODY_TOO_SLOW', `the request body arrived at ${Math.round(bytes / seconds)} bytes/s (${bytes} bytes in ${seconds.toFixed(1)} s), below the server's floor of ${floor} bytes/s (--min-body-bytes-per-second)`, 408, GrpcStatus.DEADLINE_EXCEEDED);
  }
}

export interface BodyProgress {
  /** Bytes arrived so far. */
  bytes: number;
  /** Called once when the body is too slow; the caller answers 408 and closes the connection. */
  tooSlow(error: BodyTooSlowError): void;
}

export class SlowBodies {
  private readonly arriving = new Map<BodyProgress, number>();
  private readonly timer?: NodeJS.Timeout;

  constructor(private readonly minBytesPerSecond: number, private readonly now: () => number, private readonly graceMs = 1000) {
    if (minBytesPerSecond > 0) {
      this.timer = setInterval(() => this.sweep(), 1000);
      this.timer.unref();
    }
  }

  /** Watches a body from its headers on; returns the function to call when it is complete or gone. */
  watch(body: BodyProgress): () => void {
    if (!this.timer) return () => undefined;
    this.arriving.set(body, this.now());
    return () => this.arriving.delete(body);
  }

  sweep(): void {
    const now = this.now();
    for (const [body, since] of this.arriving) {
      const ms = now - since;
      if (ms < this.graceMs || body.bytes >= (this.minBytesPerSecond * ms) / 1000) continue;
      this.arriving.delete(body);
      body.tooSlow(new BodyTooSlowError(body.bytes, ms / 1000, this.minBytesPerSecond));
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.arriving.clear();
  }
}
