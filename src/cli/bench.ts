// `pareto bench`: drives a server with open- or closed-loop load from one or many tenants and
// reports what users care about. Inputs are real MNIST test digits, or the user's own requests.
import { NODE_ENV, NODE_FLAGS } from './node-flags.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadMnist } from '../datasets/mnist.js';
import { readSampleFile } from '../datasets/sample-file.js';
import { arrivalsOf, parseStream, readPlan, type StreamPlan } from '../loadgen/plan.js';
import { formatTable, lineSvg, perSecond, report } from '../loadgen/report.js';
import { runClosedLoop, runOpenLoop, type Outcome } from '../loadgen/runner.js';
import { PROTOCOLS, Senders, type Protocol } from '../loadgen/senders.js';
import { progressBar } from '../zoo/progress.js';

/** Open-loop results are only worth printing if requests left on time. */
export const MAX_ARRIVAL_ERROR_MS = 1;

function hasLargeYoungGeneration(): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(' ')].some((a) => a.startsWith('--max-semi-space-size'));
}

async function reexecWithLargeYoungGeneration(): Promise<void> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...NODE_ENV } });
  const [code] = await once(child, 'exit');
  process.exitCode = code ?? 1;
}

export function benchCommand(): Command {
  return new Command('bench')
    .description('Load a running server (open loop: Poisson, steps, sine, bursts, trace replay; or closed loop) and report p50/p95/p99, throughput, goodput, SLO attainment, accuracy served, refusals and fairness')
    .option('--url <origin>', 'the server\'s HTTP origin', 'http://127.0.0.1:8000')
    .option('--grpc <address>', 'the server\'s gRPC address, for --protocol grpc', '127.0.0.1:8001')
    .addOption(new Option('--protocol <p>', 'how requests travel').choices([...PROTOCOLS]).default('rest-binary'))
    .option('--plan <file>', 'a YAML file of streams (tenants), each with its own key, model, SLO and load shape')
    .option('--tenant <id>', 'one stream: its tenant (for the report)', 'default')
    .option('--key <key>', 'one stream: its API key')
    .option('--model <name>', 'one stream: the model', 'mnist-mlp')
    // Not --version: commander answers that with the program's version, whatever the subcommand.
    .option('--variant <name>', 'one stream: pin a variant (the protocol\'s model version)')
    .option('--rows <n>', 'samples per request', (v) => Number(v), 1)
    .option('--inputs <file.jsonl>', 'send your own requests, in turn (docs/data-format.md), instead of MNIST digits: any model, any inputs')
    .option('--slo-ms <ms>', 'latency SLO for attainment and goodput', (v) => Number(v))
    .option('--rate <samples/s>', 'Poisson arrivals at this rate', (v) => Number(v))
    .option('--steps <t:rate,…>', 'Poisson arrivals whose rate steps at the given times (ms)')
    .option('--sine <mean,amp,period_ms>', 'Poisson arrivals with a sinusoidal rate')
    .option('--bursts <low,high,mean_low_ms,mean_high_ms>', 'Markov-modulated bursts between two rates')
    .option('--trace <file.csv>', 'replay arrival times (ms[,tenant[,model]] per line)')
    .option('--closed <clients>', 'closed loop with this many clients', (v) => Number(v))
    .option('--duration <s>', 'how long to send', (v) => Number(v), 10)
    .option('--seed <n>', 'seed of the arrival process', (v) => Number(v), 1)
    .option('--out <dir>', 'write report.json and SVG plots here')
    .addHelpText('after', `
Examples:
  $ pareto bench --key demo-acme-key --rate 2000 --slo-ms 20 --duration 10
  $ pareto bench --key demo-globex-key --bursts 500,6000,2000,1000 --rows 8 --out bench-out
  $ pareto bench --plan bench/plans/two-tenants.yaml --protocol grpc`)
    .action(async (o) => {
      if (!hasLargeYoungGeneration()) return reexecWithLargeYoungGeneration();
      const durationMs = o.duration * 1000;
      const streams: StreamPlan[] = o.plan ? readPlan(o.plan) : [parseStream({
        tenant: o.tenant, key: o.key, model: o.model, version: o.variant, rows: o.rows, slo_ms: o.sloMs,
        rate: o.rate, steps: o.steps, sine: o.sine, bursts: o.bursts, trace: o.trace, closed: o.closed,
      })];
      const samples = o.inputs ? readSampleFile(o.inputs) : undefined;
      const digits = samples ? undefined : loadMnist('test').pixels;
      const senders = new Senders();
      let outcomes: Outcome[];
      try {
        const target = { origin: o.url, grpcAddress: o.grpc };
        const built = streams.map((s, i) => {
          if (samples) {
            // One prepared request per sample, sent in turn; rows counted on the first input's axis 0.
            const sends = samples.map((sample) => senders.for(o.protocol as Protocol, target, { model: s.model, version: s.version, key: s.key, pixels: new Float32Array(0), rows: 1, inputs: sample.inputs }));
            let next = 0;
            return { s: { ...s, rows: samples[0].inputs[0].shape[0] ?? 1 }, send: () => sends[next++ % sends.length]() };
          }
          const start = (i * 997 * s.rows) % (10_000 - s.rows);
          const pixels = digits!.slice(start * 784, (start + s.rows) * 784);
          return { s, send: senders.for(o.protocol as Protocol, target, { model: s.model, version: s.version, key: s.key, pixels, rows: s.rows }) };
        });
        const progress = (d: number, t: number) => progressBar('load', d, t);
        const open = built.filter((b) => b.s.closed === undefined);
        const closed = built.filter((b) => b.s.closed !== undefined);
        const [a, b] = await Promise.all([
          open.length ? runOpenLoop(open.map((x, i) => ({ tenant: x.s.tenant, samples: x.s.rows, sloMs: x.s.slo_ms, send: x.send, arrivals: arrivalsOf(x.s, durationMs, o.seed + i)! })), progress) : [],
          closed.length ? runClosedLoop(closed.map((x) => ({ tenant: x.s.tenant, samples: x.s.rows, sloMs: x.s.slo_ms, send: x.send, concurrency: x.s.closed! })), durationMs, open.length ? undefined : progress) : [],
        ]);
        outcomes = [...a, ...b];
      } finally {
        await senders.close();
      }
      process.stderr.write('\n');
      const r = report(outcomes, durationMs / 1000);
      if (r.arrivalErrorP99 > MAX_ARRIVAL_ERROR_MS) {
        console.error(`pareto bench: requests left up to ${r.arrivalErrorP99.toFixed(2)} ms late (p99), over the ${MAX_ARRIVAL_ERROR_MS} ms this generator stands behind; the load generator, not the server, was the limit. Lower the rate, use --rows to send fewer larger requests, or run the generator on another machine. No results printed.`);
        process.exitCode = 3;
        return;
      }
      console.log(formatTable(r));
      if (o.out) {
        mkdirSync(o.out, { recursive: true });
        writeFileSync(join(o.out, 'report.json'), JSON.stringify(r, null, 2) + '\n');
        const series = perSecond(outcomes, durationMs / 1000);
        const slos = streams.filter((s) => s.slo_ms).map((s) => ({ name: s.tenant, value: s.slo_ms! }));
        writeFileSync(join(o.out, 'latency.svg'), lineSvg('p99 latency per second, by tenant (dashed: SLO)', 'ms', [...series.p99].map(([name, values]) => ({ name, values })), { refs: slos }));
        writeFileSync(join(o.out, 'throughput.svg'), lineSvg('Throughput, by tenant', 'samples/s', [...series.throughput].map(([name, values]) => ({ name, values }))));
        writeFileSync(join(o.out, 'accuracy.svg'), lineSvg('Accuracy served (measured accuracy of the serving variants)', '%', [{ name: 'all', values: series.accuracy }], { yMin: 80 }));
        writeFileSync(join(o.out, 'variants.svg'), lineSvg('Variant mix', 'samples/s', [...series.variants].map(([name, values]) => ({ name, values })), { stacked: true }));
        console.log(`written: ${o.out}/report.json, latency.svg, throughput.svg, accuracy.svg, variants.svg`);
      }
    });
}
