// Everything observed about requests and batches goes through here, once, to the Prometheus
// metrics, the live dashboard's per-second aggregates and the request log.
import pino, { type Logger } from 'pino';
import { LiveStats, type ModelGauges, type Snapshot } from './live-stats.js';
import { Metrics, type BatchRecord, type GaugeSources, type RequestRecord } from './metrics.js';
import { ModelStatistics } from './model-statistics.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface RequestLog extends RequestRecord {
  id?: string;
  status: number;
  message?: string;
}

export class Telemetry {
  readonly metrics: Metrics;
  readonly live: LiveStats;
  /** Triton's statistics extension's counts. */
  readonly statistics = new ModelStatistics();
  readonly log: Logger;
  private readonly listeners = new Set<(s: Snapshot) => void>();
  private timer: NodeJS.Timeout | undefined;

  /** `destination`: where log lines go (default stdout). */
  constructor(opts: { logLevel: LogLevel; gauges: GaugeSources & { modelGauges(): ModelGauges }; tenantSlo: (tenant: string) => number | undefined; enabled?: boolean; destination?: pino.DestinationStream }) {
    this.metrics = new Metrics(opts.gauges);
    this.live = new LiveStats(opts.tenantSlo);
    this.log = pino({ level: opts.logLevel, base: { service: 'pareto' } }, opts.destination);
    this.enabled = opts.enabled ?? true;
    // Close a dashboard second every second; unref so it never keeps the process alive.
    this.timer = setInterval(() => {
      const snap = this.live.roll(Date.now(), opts.gauges.modelGauges());
      for (const l of this.listeners) l(snap);
    }, 1000);
    this.timer.unref();
  }

  /** Off: nothing is recorded (bench:observability compares the two). */
  readonly enabled: boolean;

  request(r: RequestLog): void {
    if (!this.enabled) return;
    this.metrics.request(r);
    this.live.record(r);
    this.statistics.request(r);
    // Server faults at error; refusals (bad input, over quota, 503 overloaded or not ready, 504
    // deadline) only at debug, beside every other request: they are answers, not faults, and
    // metrics count them by reason (a 15-minute soak logged 3,295 × 504 at error, issue #17).
    if (r.status >= 500 && r.status !== 503 && r.status !== 504) this.log.error({ req: r.id, tenant: r.tenant, model: r.model, status: r.status, err: r.message }, 'request failed');
    else if (!this.log.isLevelEnabled('debug')) return;
    else if (r.status >= 400) this.log.debug({ req: r.id, tenant: r.tenant, model: r.model, status: r.status, err: r.message }, 'request refused');
    else {
      this.log.debug({ req: r.id, tenant: r.tenant, model: r.model, variant: r.version, status: r.status, ms: +r.durationMs.toFixed(3), queue_ms: r.queueMs === undefined ? undefined : +r.queueMs.toFixed(3), samples: r.samples }, 'request');
    }
  }

  batch(b: BatchRecord): void {
    if (!this.enabled) return;
    this.metrics.batch(b);
    this.statistics.batch(b);
  }

  onSecond(listener: (s: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
