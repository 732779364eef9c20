// `pareto simulate`: the real scheduler on a virtual clock, at any scale: how many workers for
// this load and these SLOs, what happens at 10×. Service times come from the model's profiles.
import { basename, dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, Option } from 'commander';
import { bursts, constant, poissonStream, sine, steps, type RateSchedule } from '../loadgen/arrivals.js';
import { formatTable, ReportBuilder, type Report } from '../loadgen/report.js';
import { ModelRepository } from '../repository/model-repository.js';
import { POLICIES, type Policy } from '../scheduler/planner.js';
import { simulate, type SimVariant } from '../simulate/simulator.js';

interface Load {
  rate: RateSchedule;
  rows: number;
  tenants: number;
  sloMs?: number;
}

function variantsOf(modelDir: string): { variants: SimVariant[]; maxBatchSize: number } {
  const dir = resolve(modelDir);
  const { config, variants } = new ModelRepository(dirname(dir)).read(basename(dir));
  const out = variants.filter((v) => v.profile).map((v) => ({
    name: v.name,
    accuracy: v.profile!.accuracy.value,
    latency: v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p50_ms })),
    latencyP99: v.profile!.latency.map((l) => ({ batch: l.batch_size, ms: l.p99_ms })),
  }));
  if (out.length === 0) throw new Error(`${modelDir}: no variant has a profile.json; run pareto profile first`);
  return { variants: out, maxBatchSize: config.batching.max_batch_size };
}

/** How the simulated machine differs from the profiles' and where time goes outside the scheduler. */
interface Machine {
  overheadMs: number;
  requestOverheadMs: number;
  /** Service times ÷ profiled times (> 1: a slower machine than the one profiled). */
  slowdown: number;
}

export function runSimulation(modelDir: string, load: Load, workers: number, policy: Policy, durationMs: number, seed: number, machine: Machine) {
  const { variants, maxBatchSize } = variantsOf(modelDir);
  const builder = new ReportBuilder();
  const started = performance.now();
  const tenants = Array.from({ length: load.tenants }, (_, i) => ({
    id: load.tenants === 1 ? 'default' : `tenant-${i + 1}`,
    weight: 1, priority: 1, sloMs: load.sloMs, rows: load.rows,
    arrivals: poissonStream((t) => load.rate(t) / load.tenants, load.rows, durationMs, seed + i),
  }));
  const result = simulate({ variants, tenants, workers, policy, maxBatchSize, seed, ...machine, onOutcome: (o) => builder.add(o) });
  const wallSeconds = (performance.now() - started) / 1000;
  return { report: builder.build(durationMs / 1000), result, wallSeconds, rss: process.memoryUsage().rss };
}

export function simulateCommand(): Command {
  return new Command('simulate')
    .description('Simulate Pareto at scale: the real fair queue and planner on a virtual clock, executors timed by the measured profiles')
    .argument('<model-dir>', 'a profiled model folder, e.g. models/mnist-mlp-wide')
    .option('--workers <n>', 'executors', (v) => Number(v), 100)
    .addOption(new Option('--policy <p>', 'variant choice').choices([...POLICIES]).default('adaptive'))
    .option('--rate <samples/s>', 'Poisson arrivals at this rate', (v) => Number(v))
    .option('--steps <t:rate,…>', 'a stepped rate (ms: samples/s)')
    .option('--sine <mean,amp,period_ms>', 'a sinusoidal rate')
    .option('--bursts <low,high,mean_low_ms,mean_high_ms>', 'Markov-modulated bursts')
    .option('--rows <n>', 'samples per request', (v) => Number(v), 1)
    .option('--tenants <n>', 'tenants sharing the load equally', (v) => Number(v), 1)
    .option('--slo-ms <ms>', 'latency SLO', (v) => Number(v))
    .option('--duration <s>', 'simulated seconds', (v) => Number(v), 60)
    .option('--overhead-ms <ms>', 'dispatch time around each batch (measured: ~0.3 ms here)', (v) => Number(v), 0.3)
    .option('--request-overhead-ms <ms>', 'time each request spends in the front door (bench:serve at concurrency 1: ~0.45 ms here)', (v) => Number(v), 0.45)
    .option('--slowdown <factor>', 'service times ÷ the profiles\' (e.g. 1.5 for a machine 1.5× slower than the one profiled; bench:simulate measures it)', (v) => Number(v), 1)
    .option('--seed <n>', 'seed', (v) => Number(v), 1)
    .option('--plan', 'search the smallest worker count that meets --target SLO attainment')
    .option('--target <fraction>', 'SLO attainment to meet with --plan', (v) => Number(v), 0.99)
    .addHelpText('after', `
Examples:
  $ pareto simulate models/mnist-mlp-wide --workers 1000 --rate 100000 --slo-ms 100 --duration 600
  $ pareto simulate models/mnist-mlp-wide --bursts 20000,120000,3000,2000 --slo-ms 50 --plan`)
    .action((dir: string, o) => {
      const durationMs = o.duration * 1000;
      let rate: RateSchedule;
      if (o.rate !== undefined) rate = constant(o.rate);
      else if (o.bursts) { const [a, b, c, d] = String(o.bursts).split(',').map(Number); rate = bursts(a, b, c, d, durationMs, o.seed); }
      else if (o.sine) { const [a, b, c] = String(o.sine).split(',').map(Number); rate = sine(a, b, c); }
      else if (o.steps) rate = steps(String(o.steps).split(',').map((p) => p.split(':').map(Number) as [number, number]));
      else throw new Error('give a load: --rate, --steps, --sine or --bursts');
      const load: Load = { rate, rows: o.rows, tenants: o.tenants, sloMs: o.sloMs };
      if (!(o.slowdown > 0)) throw new Error('--slowdown must be a positive factor');
      const machine: Machine = { overheadMs: o.overheadMs, requestOverheadMs: o.requestOverheadMs, slowdown: o.slowdown };
      const print = (workers: number, r: ReturnType<typeof runSimulation>) => {
        console.log(`\n${workers} workers, policy ${o.policy}: ${fmt(r.result.events)} events in ${r.wallSeconds.toFixed(1)} s (${fmt(r.report.overall.requests / r.wallSeconds)} simulated requests per wall second), RSS ${(r.rss / 2 ** 20).toFixed(0)} MiB`);
        console.log(formatTable(r.report).split('\n').slice(0, -1).join('\n'));
        console.log(`worker-seconds by variant: ${Object.entries(r.result.workerSeconds).map(([v, s]) => `${v} ${s.toFixed(1)}`).join(', ')}`);
      };
      if (!o.plan) { print(o.workers, runSimulation(dir, load, o.workers, o.policy, durationMs, o.seed, machine)); return; }
      if (!o.sloMs) throw new Error('--plan needs --slo-ms');
      const meets = (r: Report) => (r.overall.sloAttainment ?? 0) >= o.target;
      let hi = 1;
      let last = runSimulation(dir, load, hi, o.policy, durationMs, o.seed, machine);
      while (!meets(last.report)) {
        if (hi >= 1 << 16) throw new Error('no worker count up to 65,536 meets the target');
        hi *= 2;
        last = runSimulation(dir, load, hi, o.policy, durationMs, o.seed, machine);
      }
      let lo = hi / 2;
      let best = { workers: hi, run: last };
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        const r = runSimulation(dir, load, mid, o.policy, durationMs, o.seed, machine);
        if (meets(r.report)) { hi = mid; best = { workers: mid, run: r }; } else lo = mid;
      }
      print(best.workers, best.run);
      console.log(`\nrecommendation: ${best.workers} workers meet ${(100 * o.target).toFixed(1)}% SLO attainment (${fmt(100 * (best.run.report.overall.sloAttainment ?? 0))}% simulated) at ${fmt(100 * (best.run.report.overall.accuracyServed ?? 0))}% accuracy served; ${best.workers - 1} do not.`);
    });
}

const fmt = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 2 });
