// A load plan: the streams of one run (tenant, key, model, request size, SLO, and how requests
// arrive), from the command line or a YAML file, validated with zod.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatZodError } from '../repository/model-config.js';
import { bursts, constant, poissonArrivals, readTrace, sine, steps, type RateSchedule } from './arrivals.js';

const numberList = (n: number) => z.string().transform((s, ctx) => {
  const xs = s.split(/[,:]/).map(Number);
  if (xs.length !== n || xs.some((x) => !Number.isFinite(x))) { ctx.addIssue({ code: 'custom', message: `expected ${n} numbers, got '${s}'` }); return z.NEVER; }
  return xs;
});

export const StreamSchema = z.strictObject({
  tenant: z.string().min(1).default('default'),
  key: z.string().optional(),
  model: z.string().min(1),
  version: z.string().optional(),
  rows: z.number().int().positive().default(1),
  slo_ms: z.number().positive().optional(),
  /** Poisson arrivals at this many samples/s. */
  rate: z.number().positive().optional(),
  /** "t0:rate0,t1:rate1,…" (ms: samples/s), Poisson within each step. */
  steps: z.string().optional(),
  /** "mean,amplitude,period_ms". */
  sine: numberList(3).optional(),
  /** "low,high,mean_low_ms,mean_high_ms": a Markov-modulated Poisson process. */
  bursts: numberList(4).optional(),
  /** A CSV of arrival times (ms[,tenant[,model]]). */
  trace: z.string().optional(),
  /** Closed loop: this many clients, each sending when its last request answers. */
  closed: z.number().int().positive().optional(),
}).superRefine((s, ctx) => {
  const shapes = ['rate', 'steps', 'sine', 'bursts', 'trace', 'closed'].filter((k) => s[k as keyof typeof s] !== undefined);
  if (shapes.length !== 1) ctx.addIssue({ code: 'custom', message: `give exactly one of rate, steps, sine, bursts, trace, closed (got ${shapes.join(', ') || 'none'})` });
});

export type StreamPlan = z.infer<typeof StreamSchema>;

export const PlanSchema = z.strictObject({ streams: z.array(StreamSchema).min(1) });

export function readPlan(file: string): StreamPlan[] {
  const parsed = PlanSchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: ${formatZodError(parsed.error)}`);
  return parsed.data.streams;
}

export function parseStream(raw: unknown): StreamPlan {
  const parsed = StreamSchema.safeParse(raw);
  if (!parsed.success) throw new Error(formatZodError(parsed.error));
  return parsed.data;
}

function schedule(s: StreamPlan, durationMs: number, seed: number): RateSchedule {
  if (s.rate !== undefined) return constant(s.rate);
  if (s.sine) return sine(s.sine[0], s.sine[1], s.sine[2]);
  if (s.bursts) return bursts(s.bursts[0], s.bursts[1], s.bursts[2], s.bursts[3], durationMs, seed);
  const points = s.steps!.split(',').map((p) => p.split(':').map(Number) as [number, number]);
  if (points.some((p) => p.length !== 2 || p.some((x) => !Number.isFinite(x)))) throw new Error(`steps '${s.steps}': expected "t_ms:rate,…"`);
  return steps(points);
}

/** Arrival times for an open-loop stream (undefined for a closed-loop one). */
export function arrivalsOf(s: StreamPlan, durationMs: number, seed: number): number[] | undefined {
  if (s.closed !== undefined) return undefined;
  if (s.trace) {
    return readTrace(s.trace).filter((a) => (!a.tenant || a.tenant === s.tenant) && (!a.model || a.model === s.model) && a.at < durationMs).map((a) => a.at);
  }
  return poissonArrivals(schedule(s, durationMs, seed), s.rows, durationMs, seed);
}
