// A noisy neighbour in a process of its own: one tenant's Poisson stream of MNIST digits at a fixed
// rate (samples/s; --rows per request, --json for JSON bodies, over at most --connections, 512 by
// default), for bench:slo's and bench:abuse's isolation parts. Sent from the process that measures
// the other tenant, its answers (and that process's garbage collection) would be counted in the
// other tenant's latencies. It runs as a background generator (timers only, no raised priority),
// leaving the shared core to the measuring one. Prints `sending` when it starts, then
// `result=<json>` (statuses, send lag) when done.
// With --max-outstanding N, an arrival that finds N requests unanswered is dropped (counted under
// status -1), as a client whose N connections are all busy sends nothing more: refusals the server
// holds (its tarpit) otherwise queued here by the thousand, and the flood ran minutes past its
// window to send them.
import { parseArgs } from 'node:util';
import { loadMnist } from '../../src/datasets/mnist.js';
import { poissonArrivals } from '../../src/loadgen/arrivals.js';
import { runOpenLoop } from '../../src/loadgen/runner.js';
import { Senders, type Sender } from '../../src/loadgen/senders.js';
import { percentile, sortedCopy } from './stats.js';

const { values } = parseArgs({ options: {
  origin: { type: 'string' }, model: { type: 'string' }, key: { type: 'string' },
  rate: { type: 'string' }, ms: { type: 'string' }, seed: { type: 'string', default: '1' },
  rows: { type: 'string', default: '1' }, json: { type: 'boolean', default: false },
  connections: { type: 'string', default: '512' },
  'max-outstanding': { type: 'string' },
} });
const rows = Number(values.rows);
const pixels = loadMnist('test').pixels.slice(0, 784 * rows);
const rate = Number(values.rate);
console.log('sending');
const senders = new Senders(Number(values.connections));
const send = senders.rest(values.origin!, { model: values.model!, key: values.key, pixels, rows }, !values.json);
const maxOutstanding = values['max-outstanding'] === undefined ? Infinity : Number(values['max-outstanding']);
let outstanding = 0;
const bounded: Sender = () => {
  if (outstanding >= maxOutstanding) return Promise.resolve({ status: -1 });
  outstanding++;
  return send().finally(() => { outstanding--; });
};
const outcomes = await runOpenLoop([{ tenant: 'flood', samples: rows, send: bounded, arrivals: poissonArrivals(() => rate, rows, Number(values.ms), Number(values.seed)) }], undefined, { background: true });
await senders.close();
const statuses: Record<number, number> = {};
for (const o of outcomes) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
console.log(`result=${JSON.stringify({ requests: outcomes.length, statuses, sendLagP99: percentile(sortedCopy(outcomes.map((o) => o.sendLag)), 0.99) })}`);
