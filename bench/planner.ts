// npm run bench:planner — the planner across service times (issue #16): for each profile set in
// bench/lib/planner-cases.ts and each worker count, SLO attainment and accuracy served by
// adaptive, fastest and most-accurate, and the most accurate variant that alone meets ≥ 99%, on
// the same bursty arrivals in the simulator. A case passes when adaptive meets ≥ 99% wherever
// fastest meets ≥ 99.5%, within 1 point of that variant's accuracy. Options: --workers 1,4,16,64,
// --seeds N (default 1), --depth N (the pipeline depth; default the simulator's), --peak X (bursts
// to X × the accurate variant's capacity; default 3), --set PREFIX.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { bursts } from '../src/loadgen/arrivals.js';
import { feasible, judge, PROFILE_SETS, runCase, type CaseResult } from './lib/planner-cases.js';

const { values: args } = parseArgs({ options: { workers: { type: 'string', default: '1,4,16,64' }, seeds: { type: 'string', default: '1' }, depth: { type: 'string' }, set: { type: 'string' }, peak: { type: 'string', default: '3' } } });
const workers = args.workers.split(',').map(Number);
const depth = args.depth === undefined ? undefined : Number(args.depth);
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const cell = (r: CaseResult) => `${pct(r.attainment)} @ ${pct(r.accuracy)}`;

let passed = 0, total = 0;
const started = performance.now();
console.log('| profile set | workers | seed | adaptive: SLO @ accuracy | fastest | most-accurate | best variant alone ≥ 99% | pass |');
console.log('|---|---|---|---|---|---|---|---|');
for (const set of PROFILE_SETS.filter((s) => !args.set || s.name.startsWith(args.set))) {
  for (const w of workers) {
    for (let seed = 1; seed <= Number(args.seeds); seed++) {
      const v = judge(set, w, seed, depth, Number(args.peak));
      total++;
      if (v.pass) passed++;
      const best = v.bestFixed ? `${v.bestFixed.variant}: ${cell(v.bestFixed)}` : 'none';
      console.log(`| ${set.name} | ${w} | ${seed} | ${cell(v.adaptive)} | ${cell(v.fastest)} | ${cell(v.mostAccurate)} | ${best} | ${v.pass ? 'yes' : '**no**'} |`);
    }
  }
}
console.log(`\n${passed}/${total} cases pass (${((performance.now() - started) / 1000).toFixed(0)} s)`);

// Issue #16's own setting: the BERT-like set, 300 ms SLO, two ~290 s bursty traces shaped like the
// ones it quotes (mean 236/s peak 890/s on 9 workers; mean 526/s peak 1,160/s on 20), at pipeline
// depths 1 and 2. most-accurate is given only the variants that can meet the SLO alone.
const bert = PROFILE_SETS.find((x) => x.name.startsWith('bert'))!;
const traces = [
  { name: 'trace 1 (mean 236/s, peak 890/s)', workers: 9, low: 120, high: 890, share: 0.15 },
  { name: 'trace 2 (mean 526/s, peak 1,160/s)', workers: 20, low: 367, high: 1160, share: 0.2 },
];
console.log('\n| issue #16 trace | workers | depth | adaptive: SLO @ accuracy | most-accurate (feasible) | fastest | best variant alone ≥ 99% |');
console.log('|---|---|---|---|---|---|---|');
for (const t of traces) {
  const durationMs = 290_000;
  const load = { rate: bursts(t.low, t.high, 8000 * (1 - t.share) / t.share / 4, 2000, durationMs, 3), durationMs };
  for (const d of [1, 2]) {
    const a = runCase(bert, t.workers, 'adaptive', load, bert.variants, 1, d);
    const m = runCase(bert, t.workers, 'most-accurate', load, feasible(bert), 1, d);
    const f = runCase(bert, t.workers, 'fastest', load, bert.variants, 1, d);
    const alone = bert.variants.map((v) => ({ v: v.name, r: runCase(bert, t.workers, 'most-accurate', load, [v], 1, d) })).filter((x) => x.r.attainment >= 0.99);
    const best = alone.reduce<(typeof alone)[number] | undefined>((a, x) => (!a || x.r.accuracy > a.r.accuracy ? x : a), undefined);
    console.log(`| ${t.name} | ${t.workers} | ${d} | ${cell(a)} | ${cell(m)} | ${cell(f)} | ${best ? `${best.v}: ${cell(best.r)}` : 'none'} |`);
  }
}
