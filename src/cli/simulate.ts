// `pareto simulate`: the real scheduler on a virtual clock, at any scale: how many workers for
// this load and these SLOs, what happens at 10×. Service times come from the model's profiles.
import { basename, dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError, Option } from 'commander';
import { bursts, constant, sine, steps, type RateSchedule } from '../loadgen/arrivals.js';
import { formatTable, ReportBuilder } from '../loadgen/report.js';
import { ModelRepository } from '../repository/model-repository.js';
import { LatencyModel } from '../scheduler/latency-model.js';
import { POLICIES, type Policy } from '../scheduler/planner.js';
import { planWorkers } from '../simulate/plan-workers.js';
import { simulate, type SimVariant } from '../simulate/simulator.js';
import { poissonWorkload, ratesWorkload, tenantsFileIds, tenantsFileTerms, traceWorkload, uniformTerms, until, type TermsOf, type Workload } from '../simulate/workload.js';
import { fraction, integer } from './serve.js';

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
  pipelineDepth: number;
}

function runSimulation(model: ReturnType<typeof variantsOf>, workload: Workload, workers: number, policy: Policy, seed: number, machine: Machine) {
  const { variants, maxBatchSize } = model;
  const builder = new ReportBuilder();
  const started = performance.now();
  const result = simulate({ variants, tenants: workload.tenants(), workers, policy, maxBatchSize, seed, ...machine, onOutcome: (o) => builder.add(o) });
  const wallSeconds = (performance.now() - started) / 1000;
  return { report: builder.build(workload.endMs / 1000), result, wallSeconds, rss: process.memoryUsage().rss };
}

/** Why no worker count can meet the targets, where the profiles alone say so (else undefined). */
function impossible(variants: SimVariant[], workload: Workload, slowdown: number, minAccuracy: number): string | undefined {
  const alone = (v: SimVariant) => new LatencyModel(v.latency).profiled(1) * slowdown;
  const fastest = Math.min(...variants.map(alone));
  const tight = workload.tenants().filter((t) => t.sloMs !== undefined).sort((a, b) => a.sloMs! - b.sloMs!)[0];
  if (tight && tight.sloMs! < fastest) return `tenant '${tight.id}' has a ${tight.sloMs} ms SLO, and the fastest variant takes ${fastest.toPrecision(2)} ms for one sample`;
  const best = Math.max(...variants.map((v) => v.accuracy));
  if (minAccuracy > best) return `the most accurate variant measures ${(100 * best).toFixed(2)}%, below the ${(100 * minAccuracy).toFixed(2)}% asked`;
  return undefined;
}

const positive = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError(`'${v}' is not a positive number`);
  return n;
};

export function simulateCommand(): Command {
  return new Command('simulate')
    .description('Simulate Pareto at scale: the real fair queue and planner on a virtual clock, executors timed by the measured profiles')
    .argument('<model-dir>', 'a profiled model folder, e.g. models/mnist-mlp-wide')
    .option('--workers <n>', 'executors', integer, 100)
    .addOption(new Option('--policy <p>', 'variant choice').choices([...POLICIES]).default('adaptive'))
    .option('--rate <samples/s>', 'Poisson arrivals at this rate', positive)
    .option('--steps <t:rate,…>', 'a stepped rate (ms: samples/s)')
    .option('--sine <mean,amp,period_ms>', 'a sinusoidal rate')
    .option('--bursts <low,high,mean_low_ms,mean_high_ms>', 'Markov-modulated bursts')
    .option('--trace <file.csv>', 'replay arrival times: time_ms[,tenant[,model]] per line (other models\' lines are skipped)')
    .option('--rates <file.csv>', 'Poisson arrivals at per-second rates: second,samples_per_second[,tenant] per line, or one rate per line')
    .option('--rows <n>', 'samples per request', integer, 1)
    .option('--tenants <n>', 'tenants sharing a --rate/--steps/--sine/--bursts load equally', integer, 1)
    .option('--tenants-file <tenants.yaml>', "each tenant's weight, priority and SLO for this model, from the server's tenants file (traces name tenants in their second column)")
    .option('--slo-ms <ms>', 'latency SLO of every tenant (without --tenants-file)', positive)
    .option('--duration <s>', 'simulated seconds (default: to the end of a trace or rates file, else 60)', positive)
    .option('--overhead-ms <ms>', 'dispatch time around each batch (measured: ~0.3 ms here)', Number, 0.3)
    .option('--request-overhead-ms <ms>', 'time each request spends in the front door (bench:serve at concurrency 1: ~0.45 ms here)', Number, 0.45)
    .option('--slowdown <factor>', 'service times ÷ the profiles\' (e.g. 1.5 for a machine 1.5× slower than the one profiled; bench:simulate measures it)', positive, 1)
    .option('--pipeline-depth <n>', "batches a worker may hold (the server's --pipeline-depth; a second only while batches are short against the SLOs)", integer, 2)
    .option('--seed <n>', 'seed', integer, 1)
    .option('--plan', 'find the fewest workers that meet --target SLO attainment (and --min-accuracy-served)')
    .option('--target <fraction>', 'SLO attainment to meet with --plan', fraction, 0.99)
    .option('--min-accuracy-served <fraction>', 'with --plan: accuracy served to meet as well', fraction)
    .option('--max-workers <n>', 'with --plan: the most workers to try', integer, 4096)
    .addHelpText('after', `
Examples:
  $ pareto simulate models/mnist-mlp-wide --workers 1000 --rate 100000 --slo-ms 100 --duration 600
  $ pareto simulate models/mnist-mlp-wide --bursts 20000,120000,3000,2000 --slo-ms 50 --plan --min-accuracy-served 0.98
  $ pareto simulate models/mnist-mlp-wide --trace arrivals.csv --tenants-file tenants.yaml --plan`)
    .action((dir: string, o) => {
      const model = basename(resolve(dir));
      const sources = ['rate', 'steps', 'sine', 'bursts', 'trace', 'rates'].filter((k) => o[k] !== undefined);
      if (sources.length !== 1) throw new Error(`give one load: --rate, --steps, --sine, --bursts, --trace or --rates${sources.length ? ` (got ${sources.map((s) => `--${s}`).join(', ')})` : ''}`);
      const terms: TermsOf = o.tenantsFile ? tenantsFileTerms(o.tenantsFile, model) : uniformTerms(o.sloMs);
      let workload: Workload;
      if (o.trace) workload = traceWorkload(o.trace, model, o.rows, terms);
      else if (o.rates) workload = ratesWorkload(o.rates, o.rows, terms, o.seed);
      else {
        const durationMs = (o.duration ?? 60) * 1000;
        let rate: RateSchedule;
        if (o.rate !== undefined) rate = constant(o.rate);
        else if (o.bursts) { const [a, b, c, d] = String(o.bursts).split(',').map(Number); rate = bursts(a, b, c, d, durationMs, o.seed); }
        else if (o.sine) { const [a, b, c] = String(o.sine).split(',').map(Number); rate = sine(a, b, c); }
        else rate = steps(String(o.steps).split(',').map((p) => p.split(':').map(Number) as [number, number]));
        const ids = o.tenantsFile ? tenantsFileIds(o.tenantsFile) : Array.from({ length: o.tenants }, (_, i) => (o.tenants === 1 ? 'default' : `tenant-${i + 1}`));
        workload = poissonWorkload(rate, ids, o.rows, terms, durationMs, o.seed);
      }
      if (o.duration !== undefined && (o.trace || o.rates)) workload = until(workload, o.duration * 1000);
      const machine: Machine = { overheadMs: o.overheadMs, requestOverheadMs: o.requestOverheadMs, slowdown: o.slowdown, pipelineDepth: o.pipelineDepth };
      // Read once: a --plan search runs the simulation for many worker counts.
      const profiled = variantsOf(dir);
      const run = (workers: number) => runSimulation(profiled, workload, workers, o.policy, o.seed, machine);
      const print = (workers: number, r: ReturnType<typeof runSimulation>) => {
        console.log(`\n${workers} workers, policy ${o.policy}: ${fmt(r.result.events)} events in ${r.wallSeconds.toFixed(1)} s (${fmt(r.report.overall.requests / r.wallSeconds)} simulated requests per wall second), RSS ${(r.rss / 2 ** 20).toFixed(0)} MiB`);
        console.log(formatTable(r.report).split('\n').slice(0, -1).join('\n'));
        console.log(`worker-seconds by variant: ${Object.entries(r.result.workerSeconds).map(([v, s]) => `${v} ${s.toFixed(1)}`).join(', ')}`);
      };
      if (!o.plan) { print(o.workers, run(o.workers)); return; }
      if (!workload.tenants().some((t) => t.sloMs !== undefined)) throw new Error('--plan needs an SLO: --slo-ms, or SLOs in --tenants-file');
      const minAccuracy = o.minAccuracyServed ?? 0;
      const goal = `${(100 * o.target).toFixed(1)}% SLO attainment${minAccuracy ? ` at ≥ ${(100 * minAccuracy).toFixed(2)}% accuracy served` : ''}`;
      const why = impossible(profiled.variants, workload, o.slowdown, minAccuracy);
      if (why) { console.log(`\nno worker count can meet ${goal}: ${why}.`); process.exitCode = 2; return; }
      const outcome = planWorkers(run, { slo: o.target, accuracy: minAccuracy, maxWorkers: o.maxWorkers });
      console.log(`\ntried (workers: SLO met @ accuracy served): ${outcome.tried.map((t) => `${t.workers}: ${(100 * t.slo).toFixed(2)}% @ ${(100 * t.accuracy).toFixed(2)}%`).join('; ')}`);
      if (!outcome.found) { console.log(`\nno worker count meets ${goal}: ${outcome.reason}.`); process.exitCode = 2; return; }
      const chosen = outcome.tried.find((t) => t.workers === outcome.workers)!;
      print(outcome.workers, outcome.run);
      console.log(`\nrecommendation: ${outcome.workers} workers meet ${goal} (${fmt(100 * chosen.slo)}% of SLOs at ${fmt(100 * chosen.accuracy)}% accuracy served); no smaller count tried does.`);
    });
}

const fmt = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 2 });
