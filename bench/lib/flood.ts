// A noisy neighbour in a process of its own: one tenant's Poisson stream of MNIST digits at a fixed
// rate, for bench:slo's isolation part. Sent from the process that measures the other tenant, its
// answers (and that process's garbage collection) would be counted in the other tenant's
// latencies. It wakes on a 1 ms timer and sends what is due, rather than polling the event loop
// as the measuring generator does, so it leaves the shared core to the measuring generator.
// Prints `sending` when it starts, then `result=<json>` (statuses, send lag) when done.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { loadMnist } from '../../src/datasets/mnist.js';
import { poissonArrivals } from '../../src/loadgen/arrivals.js';
import { Senders } from '../../src/loadgen/senders.js';
import { percentile, sortedCopy } from './stats.js';

const { values } = parseArgs({ options: {
  origin: { type: 'string' }, model: { type: 'string' }, key: { type: 'string' },
  rate: { type: 'string' }, ms: { type: 'string' }, seed: { type: 'string', default: '1' },
} });
const pixels = loadMnist('test').pixels.slice(0, 784);
const senders = new Senders();
const send = senders.rest(values.origin!, { model: values.model!, key: values.key, pixels, rows: 1 }, true);
const arrivals = poissonArrivals(() => Number(values.rate), 1, Number(values.ms), Number(values.seed));
const statuses: Record<number, number> = {};
const lags: number[] = [];
const pending: Array<Promise<void>> = [];
console.log('sending');
const start = performance.now();
let next = 0;
await new Promise<void>((done) => {
  const tick = () => {
    const now = performance.now() - start;
    for (; next < arrivals.length && arrivals[next] <= now; next++) {
      lags.push(now - arrivals[next]);
      pending.push(send().then((r) => r.status, () => 0).then((s) => { statuses[s] = (statuses[s] ?? 0) + 1; }));
    }
    if (next < arrivals.length) setTimeout(tick, 1);
    else done();
  };
  tick();
});
await Promise.all(pending);
await senders.close();
console.log(`result=${JSON.stringify({ requests: arrivals.length, statuses, sendLagP99: percentile(sortedCopy(lags), 0.99) })}`);
