// Bytes of request bodies held in memory at once, server-wide and per tenant, counted from the
// first byte (from Content-Length when the client declares it): a body waiting to be completed
// holds memory as surely as one being decoded. Before, 30 connections on one key each sending 60 MB
// of a declared 64 MB body and then waiting took RSS from 395 MB to 2,074 MB.
import { OverloadedError, RateLimitedError } from '../../errors.js';

export interface BodyBudgetOptions {
  /** All bodies together. */
  serverBytes: number;
  /** One tenant's bodies together (the open server's single tenant included). */
  tenantBytes: number;
}

/** What one request holds; release() once its answer is sent or its connection is gone. */
export interface BodyHold {
  /** Adds bytes to the hold (a chunked body as it arrives); throws 503 or 429 past a budget. */
  grow(bytes: number): void;
  release(): void;
}

export class BodyBudget {
  private used = 0;
  private readonly byTenant = new Map<string, number>();

  constructor(private readonly opts: BodyBudgetOptions) {}

  get inUse(): number {
    return this.used;
  }

  hold(tenant: string): BodyHold {
    let held = 0;
    let released = false;
    return {
      grow: (bytes) => {
        if (released || bytes <= 0) return;
        const mine = this.byTenant.get(tenant) ?? 0;
        if (mine + bytes > this.opts.tenantBytes) {
          throw new RateLimitedError(`tenant '${tenant}' has ${mine} bytes of request bodies in flight; with ${bytes} more it would pass its limit of ${this.opts.tenantBytes} (--max-tenant-body-bytes)`, 1);
        }
        if (this.used + bytes > this.opts.serverBytes) {
          throw new OverloadedError(`the server holds ${this.used} bytes of request bodies; ${bytes} more would pass its limit of ${this.opts.serverBytes} (--max-inflight-body-bytes); retry later`);
        }
        held += bytes;
        this.used += bytes;
        this.byTenant.set(tenant, mine + bytes);
      },
      release: () => {
        if (released) return;
        released = true;
        this.used -= held;
        const left = (this.byTenant.get(tenant) ?? 0) - held;
        if (left > 0) this.byTenant.set(tenant, left);
        else this.byTenant.delete(tenant);
      },
    };
  }
}
