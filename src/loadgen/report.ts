// What a load run means to its users: percentiles (HDR histogram), throughput, goodput (answers
// within the SLO per second), SLO attainment, accuracy served, refusals by reason and Jain's
// fairness across tenants; as a table, as JSON, and as SVG plots over time.
import hdr from 'hdr-histogram-js';
import type { Outcome } from './runner.js';

export interface Stats {
  requests: number;
  answered: number;
  seconds: number;
  throughput: number;
  goodput: number;
  sloAttainment: number | null;
  p50: number; p95: number; p99: number; max: number;
  accuracyServed: number | null;
  refusals: Record<string, number>;
  variants: Record<string, number>;
}

export interface Report {
  overall: Stats;
  tenants: Record<string, Stats>;
  /** Jain's index over the tenants' shares of what they asked for (1 = perfectly fair). */
  fairness: number;
  /** p99 of how late requests left against their intended times, ms. */
  arrivalErrorP99: number;
}

/** Accumulates one group's outcomes without keeping them (the simulator streams millions). */
class StatsBuilder {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  requests = 0;
  private answered = 0;
  private good = 0;
  private withSlo = 0;
  private met = 0;
  private samples = 0;
  private accuracySum = 0;
  private accuracySamples = 0;
  private readonly refusals: Record<string, number> = {};
  private readonly variants: Record<string, number> = {};

  add(o: Outcome): void {
    this.requests++;
    if (o.sloMs !== undefined) this.withSlo++;
    if (o.status !== 200) {
      const k = o.status === 0 ? 'network' : String(o.status);
      this.refusals[k] = (this.refusals[k] ?? 0) + 1;
      return;
    }
    this.answered++;
    this.samples += o.samples;
    this.h.recordValue(Math.max(1, Math.round(o.latency * 1000))); // µs
    if (o.sloMs === undefined || o.latency <= o.sloMs) this.good++;
    if (o.sloMs !== undefined && o.latency <= o.sloMs) this.met++;
    if (o.accuracy !== undefined) { this.accuracySum += o.accuracy * o.samples; this.accuracySamples += o.samples; }
    if (o.variant) this.variants[o.variant] = (this.variants[o.variant] ?? 0) + o.samples;
  }

  build(seconds: number): Stats {
    const at = (p: number) => (this.answered ? this.h.getValueAtPercentile(p) / 1000 : NaN);
    return {
      requests: this.requests, answered: this.answered, seconds,
      throughput: this.samples / seconds,
      goodput: this.good / seconds,
      sloAttainment: this.withSlo ? this.met / this.withSlo : null,
      p50: at(50), p95: at(95), p99: at(99), max: this.answered ? this.h.maxValue / 1000 : NaN,
      accuracyServed: this.accuracySamples ? this.accuracySum / this.accuracySamples : null,
      refusals: this.refusals, variants: this.variants,
    };
  }
}

/** Builds a Report from outcomes one at a time. */
export class ReportBuilder {
  private readonly overall = new StatsBuilder();
  private readonly tenants = new Map<string, StatsBuilder>();
  private readonly lags: number[] = [];

  add(o: Outcome): void {
    this.overall.add(o);
    let t = this.tenants.get(o.tenant);
    if (!t) this.tenants.set(o.tenant, (t = new StatsBuilder()));
    t.add(o);
    if (o.sendLag > 0) this.lags.push(o.sendLag);
  }

  build(seconds: number): Report {
    const tenants = Object.fromEntries([...this.tenants].map(([id, b]) => [id, b.build(seconds)]));
    const lags = this.lags.sort((a, b) => a - b);
    const total = this.overall.requests;
    // Zero lags are not stored: the p99 is the value at rank 0.99·total counted from the top.
    const rank = Math.ceil(0.99 * total) - (total - lags.length);
    return {
      overall: this.overall.build(seconds),
      tenants,
      fairness: jain(Object.values(tenants).map((s) => (s.requests ? s.answered / s.requests : 1))),
      arrivalErrorP99: rank <= 0 ? 0 : lags[Math.min(lags.length - 1, rank - 1)],
    };
  }
}

/** Jain's fairness index: (Σx)² / (n·Σx²), 1 when every x is equal. */
export function jain(xs: number[]): number {
  if (xs.length === 0) return 1;
  const sum = xs.reduce((a, b) => a + b, 0);
  const sq = xs.reduce((a, b) => a + b * b, 0);
  return sq === 0 ? 1 : (sum * sum) / (xs.length * sq);
}

export function report(outcomes: Outcome[], seconds: number): Report {
  const b = new ReportBuilder();
  for (const o of outcomes) b.add(o);
  return b.build(seconds);
}

const n = (x: number | null, d = 1) => (x === null || Number.isNaN(x) ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

export function formatTable(r: Report): string {
  const header = ['tenant', 'requests', 'answered', 'samples/s', 'goodput/s', 'SLO met', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'accuracy', 'refused'];
  const row = (name: string, s: Stats) => [name, String(s.requests), String(s.answered), n(s.throughput, 0), n(s.goodput, 0),
    s.sloAttainment === null ? '—' : `${n(100 * s.sloAttainment, 2)}%`, n(s.p50, 2), n(s.p95, 2), n(s.p99, 2), n(s.max, 2),
    s.accuracyServed === null ? '—' : `${n(100 * s.accuracyServed, 2)}%`, Object.entries(s.refusals).map(([k, v]) => `${k}×${v}`).join(' ') || '—'];
  const rows = [header, ...Object.entries(r.tenants).map(([t, s]) => row(t, s)), row('all', r.overall)];
  const widths = header.map((_, i) => Math.max(...rows.map((x) => x[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line),
    `Jain's fairness across tenants: ${n(r.fairness, 3)}; arrival-time error p99: ${n(r.arrivalErrorP99, 2)} ms`].join('\n');
}

/** Per-second series of one run, for plots. */
export function perSecond(outcomes: Outcome[], seconds: number) {
  const len = Math.max(1, Math.ceil(seconds));
  const p99 = new Map<string, number[][]>();
  const throughput = new Map<string, number[]>();
  const variants = new Map<string, number[]>();
  const accuracy: Array<[number, number]> = Array.from({ length: len }, () => [0, 0]);
  for (const o of outcomes) {
    const i = Math.min(len - 1, Math.floor(o.at / 1000));
    if (!p99.has(o.tenant)) { p99.set(o.tenant, Array.from({ length: len }, () => [])); throughput.set(o.tenant, new Array(len).fill(0)); }
    if (o.status !== 200) continue;
    p99.get(o.tenant)![i].push(o.latency);
    throughput.get(o.tenant)![i] += o.samples;
    if (o.variant) {
      if (!variants.has(o.variant)) variants.set(o.variant, new Array(len).fill(0));
      variants.get(o.variant)![i] += o.samples;
    }
    if (o.accuracy !== undefined) { accuracy[i][0] += o.accuracy * o.samples; accuracy[i][1] += o.samples; }
  }
  const q99 = (xs: number[]) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]; };
  return {
    p99: new Map([...p99].map(([t, b]) => [t, b.map(q99)])),
    throughput,
    variants,
    accuracy: accuracy.map(([s, c]) => (c ? (100 * s) / c : null)),
  };
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

/** A line chart (or stacked areas) as SVG: series of per-second values, optional dashed reference lines. */
export function lineSvg(title: string, yLabel: string, series: Array<{ name: string; values: Array<number | null> }>, opts: { refs?: Array<{ name: string; value: number }>; stacked?: boolean; yMin?: number } = {}): string {
  const W = 760, H = 300, L = 60, R = 150, T = 34, B = 40;
  const len = Math.max(2, ...series.map((s) => s.values.length));
  const stacks = opts.stacked ? series.map((_, i) => Array.from({ length: len }, (__, j) => series.slice(0, i + 1).reduce((a, s) => a + (s.values[j] ?? 0), 0))) : undefined;
  const vals = (stacks ? stacks.flat() : series.flatMap((s) => s.values)).concat((opts.refs ?? []).map((r) => r.value)).filter((v): v is number => v !== null && Number.isFinite(v));
  const yMin = opts.yMin ?? 0;
  const yMax = Math.max(yMin + 1e-9, ...vals) * 1.08;
  const x = (i: number) => L + (i / (len - 1)) * (W - L - R);
  const y = (v: number) => T + (1 - (v - yMin) / (yMax - yMin)) * (H - T - B);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12"><rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="20" font-size="14">${title}</text>`,
    `<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">time, s</text>`,
    `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">${yLabel}</text>`];
  for (let k = 0; k <= 4; k++) {
    const v = yMin + (k / 4) * (yMax - yMin);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${v >= 100 ? v.toFixed(0) : v.toFixed(2)}</text>`);
  }
  for (let s = 0; s <= len - 1; s += Math.max(1, Math.round((len - 1) / 10))) out.push(`<text x="${x(s)}" y="${H - B + 16}" text-anchor="middle" fill="#555">${s}</text>`);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const v = stacks ? stacks[i] : s.values;
    const pts = v.map((p, j) => (p === null ? null : `${x(j).toFixed(1)},${y(p).toFixed(1)}`));
    const segments: string[][] = [[]];
    for (const p of pts) { if (p) segments[segments.length - 1].push(p); else if (segments[segments.length - 1].length) segments.push([]); }
    for (const seg of segments) if (seg.length) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${seg.join(' ')}"/>`);
    if (stacks) {
      const below = i ? stacks[i - 1] : new Array(len).fill(0);
      out.push(`<polygon fill="${color}" fill-opacity="0.25" points="${v.map((p, j) => `${x(j)},${y(p ?? 0)}`).join(' ')} ${below.map((p, j) => `${x(j)},${y(p)}`).reverse().join(' ')}"/>`);
    }
    out.push(`<rect x="${W - R + 12}" y="${T + i * 18}" width="10" height="10" fill="${color}"/><text x="${W - R + 26}" y="${T + i * 18 + 9}">${s.name}</text>`);
  });
  (opts.refs ?? []).forEach((r) => {
    const color = PALETTE[series.findIndex((s) => s.name === r.name) % PALETTE.length] ?? '#555';
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(r.value)}" y2="${y(r.value)}" stroke="${color}" stroke-dasharray="6 4"/><text x="${W - R + 12}" y="${y(r.value) + 4}" fill="${color}">${r.name} SLO</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
