// A floor on how fast a REST body arrives. Timeouts alone let a client hold a body's memory (and a
// tenant's concurrency) for the whole request timeout, by sending a byte now and then, or by
// sending most of a body and stopping. Once a second each body still arriving is checked: one that
// has gained less than `minBytesPerSecond` a second for `windowS` checks in a row (its first second
// aside) is answered 408 and its connection closed. One timer for all bodies, none per body.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ChurnSet } from '../../churn-set.js';
import { ParetoError } from '../../errors.js';

/** The body arrived too slowly (408); its connection is closed after the answer. */
export class BodyTooSlowError extends ParetoError {
  constructor(bytes: number, seconds: number, floor: number) {
    super('PARETO_ERR_BODY_TOO_SLOW', `the request body arrived at ${Math.round(bytes / seconds)} bytes/s over the last ${seconds.toFixed(1)} s, below the server's floor of ${floor} bytes/s (--min-body-bytes-per-second)`, 408, GrpcStatus.DEADLINE_EXCEEDED);
  }
}

export interface BodyProgress {
  /** Bytes arrived so far. */
  bytes: number;
  /** Called once when the body is too slow; the caller answers 408 and closes the connection. */
  tooSlow(error: BodyTooSlowError): void;
}

interface Watched {
  body: BodyProgress;
  since: number;
  /** Bytes and time at the start of the current slow run. */
  runBytes: number;
  runSince: number;
  /** Bytes at the last check. */
  lastBytes: number;
  lastAt: number;
  slowChecks: number;
}

export class SlowBodies {
  private readonly arriving = new ChurnSet<Watched>();
  private readonly timer?: NodeJS.Timeout;

  constructor(private readonly minBytesPerSecond: number, private readonly now: () => number, private readonly windowS = 3) {
    if (minBytesPerSecond > 0) {
      this.timer = setInterval(() => this.sweep(), 1000);
      this.timer.unref();
    }
  }

  /** Watches a body from its headers on; returns the function to call when it is complete or gone. */
  watch(body: BodyProgress): () => void {
    if (!this.timer) return () => undefined;
    const now = this.now();
    const watched: Watched = { body, since: now, runBytes: 0, runSince: now, lastBytes: 0, lastAt: now, slowChecks: 0 };
    this.arriving.add(watched);
    return () => this.arriving.delete(watched);
  }

  sweep(): void {
    const now = this.now();
    for (const w of this.arriving) {
      const body = w.body;
      const gained = body.bytes - w.lastBytes;
      const slow = now - w.since >= 1000 && gained < (this.minBytesPerSecond * (now - w.lastAt)) / 1000;
      if (!slow) {
        w.slowChecks = 0;
        w.runBytes = body.bytes;
        w.runSince = now;
      } else if (++w.slowChecks >= this.windowS) {
        this.arriving.delete(w);
        body.tooSlow(new BodyTooSlowError(body.bytes - w.runBytes, (now - w.runSince) / 1000, this.minBytesPerSecond));
        continue;
      }
      w.lastBytes = body.bytes;
      w.lastAt = now;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.arriving.clear();
  }
}
