// `pareto simulate --plan`: the fewest workers that meet an SLO attainment target and, if given, an
// accuracy served. Attainment is not monotone in the worker count (adaptive on one worker can meet
// its SLOs by serving its least accurate variant, and miss them on twenty with a slower one), so
// counts are scanned upward one by one to 64, then in steps of a tenth, bisecting only the last
// step; the first count that meets both targets is the answer.
import type { Report } from '../loadgen/report.js';

export interface PlanTargets {
  /** SLO attainment to meet (fraction). */
  slo: number;
  /** Accuracy served to meet (fraction); 0 for none. */
  accuracy: number;
  maxWorkers: number;
}

export interface Tried {
  workers: number;
  slo: number;
  accuracy: number;
}

export type PlanOutcome<T> =
  | { found: true; workers: number; run: T; tried: Tried[] }
  | { found: false; reason: string; tried: Tried[] };

const LINEAR_UP_TO = 64;

export function planWorkers<T extends { report: Report }>(run: (workers: number) => T, targets: PlanTargets): PlanOutcome<T> {
  const tried: Tried[] = [];
  const attempt = (workers: number) => {
    const result = run(workers);
    const slo = result.report.overall.sloAttainment ?? 0, accuracy = result.report.overall.accuracyServed ?? 0;
    tried.push({ workers, slo, accuracy });
    return { result, ok: slo >= targets.slo && accuracy >= targets.accuracy };
  };
  let last = 0;
  for (let w = 1; w <= targets.maxWorkers; w = w < LINEAR_UP_TO ? w + 1 : Math.ceil(w * 1.1)) {
    const r = attempt(w);
    if (r.ok) {
      // Past the linear range, the step skipped counts: bisect them (locally monotone at this scale).
      let lo = last, hi = w, best = r.result;
      while (hi - lo > 1 && w > LINEAR_UP_TO) {
        const mid = Math.floor((lo + hi) / 2);
        const m = attempt(mid);
        if (m.ok) { hi = mid; best = m.result; } else lo = mid;
      }
      return { found: true, workers: hi, run: best, tried };
    }
    last = w;
  }
  const best = tried.reduce((a, t) => (t.slo > a.slo || (t.slo === a.slo && t.accuracy > a.accuracy) ? t : a), tried[0]);
  return {
    found: false, tried,
    reason: `no worker count up to ${targets.maxWorkers.toLocaleString('en-US')} meets them; the best was ${best.workers} workers: ${(100 * best.slo).toFixed(2)}% of SLOs at ${(100 * best.accuracy).toFixed(2)}% accuracy served`,
  };
}
