// Arrival processes for load generation: a Poisson process whose rate follows a schedule
// (constant, steps, sine, or bursts as a two-state Markov-modulated process), or a replayed trace.
// Rates are in samples per second; times in ms from the start. Seeded, so a trace is repeatable.
import { readFileSync } from 'node:fs';
import { seededRandom } from '../zoo/random.js';

export type RateSchedule = (tMs: number) => number;

export const constant = (rate: number): RateSchedule => () => rate;

/** [[fromMs, rate], …]: each rate holds from its time until the next. */
export function steps(points: Array<[number, number]>): RateSchedule {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  return (t) => {
    let r = sorted[0]?.[1] ?? 0;
    for (const [from, rate] of sorted) if (t >= from) r = rate;
    return r;
  };
}

export function sine(mean: number, amplitude: number, periodMs: number): RateSchedule {
  return (t) => Math.max(0, mean + amplitude * Math.sin((2 * Math.PI * t) / periodMs));
}

/**
 * Bursts: a two-state Markov-modulated Poisson process that stays in each state for an
 * exponentially distributed time (means meanLowMs, meanHighMs) before switching.
 */
export function bursts(low: number, high: number, meanLowMs: number, meanHighMs: number, durationMs: number, seed: number): RateSchedule {
  const rand = seededRandom(seed);
  const switches: Array<[number, number]> = [];
  let t = 0;
  let state = 0;
  while (t < durationMs) {
    switches.push([t, state ? high : low]);
    t += -Math.log(1 - rand()) * (state ? meanHighMs : meanLowMs);
    state ^= 1;
  }
  return steps(switches);
}

/** Arrival times (ms) of a Poisson process whose rate (samples/s) follows `rate`, lazily. */
export function* poissonStream(rate: RateSchedule, samplesPerRequest: number, durationMs: number, seed: number): Generator<number> {
  const rand = seededRandom(seed);
  // Thinning against the schedule's peak keeps the process exact when the rate changes mid-gap.
  let peak = 0;
  for (let t = 0; t <= durationMs; t += Math.max(1, durationMs / 10_000)) peak = Math.max(peak, rate(t));
  const peakPerMs = peak / samplesPerRequest / 1000;
  if (peakPerMs <= 0) return;
  let t = 0;
  for (;;) {
    t += -Math.log(1 - rand()) / peakPerMs;
    if (t >= durationMs) return;
    if (rand() * peakPerMs <= rate(t) / samplesPerRequest / 1000) yield t;
  }
}

export function poissonArrivals(rate: RateSchedule, samplesPerRequest: number, durationMs: number, seed: number): number[] {
  return [...poissonStream(rate, samplesPerRequest, durationMs, seed)];
}

export interface TraceArrival {
  at: number;
  tenant?: string;
  model?: string;
}

/**
 * The rows of a small CSV file of numbers and names: cells trimmed, blank lines skipped, and a
 * first line whose first cell is not a number taken for a header. `line`: 1-based, for messages.
 */
export function csvRows(file: string): Array<{ cells: string[]; line: number }> {
  const rows: Array<{ cells: string[]; line: number }> = [];
  readFileSync(file, 'utf8').split(/\r?\n/).forEach((text, i) => {
    const cells = text.split(',').map((c) => c.trim());
    if (cells[0] && !(i === 0 && Number.isNaN(Number(cells[0])))) rows.push({ cells, line: i + 1 });
  });
  return rows;
}

/** A CSV trace: `time_ms[,tenant[,model]]` per line, header optional, times from the start. */
export function readTrace(file: string): TraceArrival[] {
  const out = csvRows(file).map(({ cells, line }) => {
    const at = Number(cells[0]);
    if (!Number.isFinite(at) || at < 0) throw new Error(`${file}:${line}: '${cells[0]}' is not a time in ms`);
    return { at, tenant: cells[1] || undefined, model: cells[2] || undefined };
  });
  return out.sort((a, b) => a.at - b.at);
}
