// Per-second aggregates for the live dashboard: per tenant latency percentiles against its SLO,
// throughput, SLO attainment, accuracy served and rejections; per model the variant mix and queue
// depth. Keeps the last HISTORY seconds. Time comes in as an argument.
import type { RequestRecord } from './metrics.js';

export interface TenantSecond {
  requests: number;
  samplesPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  sloMs: number | null;
  sloAttainment: number | null;
  accuracy: number | null;
  rejections: Record<string, number>;
}

export interface ModelSecond {
  variants: Record<string, number>;
  queued: number;
  preferred: string | null;
}

export interface Snapshot {
  t: number;
  tenants: Record<string, TenantSecond>;
  models: Record<string, ModelSecond>;
}

interface TenantBucket {
  durations: number[];
  samples: number;
  requests: number;
  sloCounted: number;
  sloMet: number;
  accuracySum: number;
  accuracySamples: number;
  rejections: Record<string, number>;
}

const HISTORY = 120;
const MAX_DURATIONS = 20_000; // per tenant per second: enough for percentiles, bounded in memory

export interface ModelGauges {
  queued: Map<string, number>;
  preferred: Map<string, string>;
}

export class LiveStats {
  private tenants = new Map<string, TenantBucket>();
  private mix = new Map<string, Map<string, number>>();
  readonly history: Snapshot[] = [];

  constructor(private readonly tenantSlo: (tenant: string) => number | undefined) {}

  record(r: RequestRecord): void {
    let b = this.tenants.get(r.tenant);
    if (!b) this.tenants.set(r.tenant, (b = { durations: [], samples: 0, requests: 0, sloCounted: 0, sloMet: 0, accuracySum: 0, accuracySamples: 0, rejections: {} }));
    b.requests++;
    if (r.sloMet !== undefined) { b.sloCounted++; if (r.sloMet) b.sloMet++; }
    if (r.outcome !== 'success') {
      b.rejections[r.outcome] = (b.rejections[r.outcome] ?? 0) + 1;
      return;
    }
    b.samples += r.samples;
    if (b.durations.length < MAX_DURATIONS) b.durations.push(r.durationMs);
    if (r.accuracy !== undefined) { b.accuracySum += r.accuracy * r.samples; b.accuracySamples += r.samples; }
    let m = this.mix.get(r.model);
    if (!m) this.mix.set(r.model, (m = new Map()));
    m.set(r.version, (m.get(r.version) ?? 0) + r.samples);
  }

  /** Closes the current second: turns its buckets into a snapshot and starts new ones. */
  roll(t: number, gauges: ModelGauges, seconds = 1): Snapshot {
    const tenants: Record<string, TenantSecond> = {};
    for (const [id, b] of this.tenants) {
      const d = b.durations.sort((x, y) => x - y);
      const q = (p: number) => (d.length ? d[Math.min(d.length - 1, Math.ceil(p * d.length) - 1)] : null);
      tenants[id] = {
        requests: b.requests,
        samplesPerSecond: b.samples / seconds,
        p50Ms: q(0.5), p99Ms: q(0.99),
        sloMs: this.tenantSlo(id) ?? null,
        sloAttainment: b.sloCounted ? b.sloMet / b.sloCounted : null,
        accuracy: b.accuracySamples ? b.accuracySum / b.accuracySamples : null,
        rejections: b.rejections,
      };
    }
    const models: Record<string, ModelSecond> = {};
    const names = new Set([...this.mix.keys(), ...gauges.queued.keys()]);
    for (const name of names) {
      if (name === 'unknown') continue;
      models[name] = {
        variants: Object.fromEntries(this.mix.get(name) ?? []),
        queued: gauges.queued.get(name) ?? 0,
        preferred: gauges.preferred.get(name) ?? null,
      };
    }
    const snap = { t, tenants, models };
    this.history.push(snap);
    if (this.history.length > HISTORY) this.history.shift();
    this.tenants = new Map();
    this.mix = new Map();
    return snap;
  }
}

/** What one viewer may see: everything for the admin, only its own tenant for a tenant key. */
export function viewFor(snap: Snapshot, tenant: string | undefined, models: (name: string) => boolean): Snapshot {
  if (tenant === undefined) return snap;
  return {
    t: snap.t,
    tenants: snap.tenants[tenant] ? { [tenant]: snap.tenants[tenant] } : {},
    models: Object.fromEntries(Object.entries(snap.models).filter(([name]) => models(name))),
  };
}
