// The fault tests' client, run as its own process inside the client's network namespace (it lives
// here, not under test/, so that `node --test dist/test/` does not run it as a test): 1-row
// mnist-mlp requests at a fixed rate, round robin over the gateways (as a load balancer would),
// each given up on after `timeoutMs`. Prints one line per request, `sent_epoch_ms latency_ms
// status gateway` (status 0: no answer, lost), then `done`.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { binaryInfer, digits } from '../../test/helpers/server.js';

export interface FaultClientOptions {
  gateways: string[];
  key: string;
  /** Requests per second. */
  rate: number;
  durationMs: number;
  timeoutMs: number;
}

const opts = JSON.parse(process.argv[2]!) as FaultClientOptions;
const pools = opts.gateways.map((origin) => new Pool(origin, { connections: 256, connect: { timeout: opts.timeoutMs } }));
const bodies = Array.from({ length: 64 }, (_, i) => binaryInfer(digits(i, 1).pixels, 1));
let lines: string[] = [];
const flush = () => { if (lines.length) process.stdout.write(lines.join('\n') + '\n'); lines = []; };
const flusher = setInterval(flush, 100);

let outstanding = 0;
async function send(i: number): Promise<void> {
  const gateway = i % pools.length;
  const { body, headers } = bodies[i % bodies.length]!;
  const sentAt = Date.now();
  const t0 = performance.now();
  outstanding++;
  let status = 0;
  try {
    const res = await pools[gateway]!.request({
      path: '/v2/models/mnist-mlp/infer', method: 'POST', body,
      headers: { ...headers, authorization: `Bearer ${opts.key}` },
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    await res.body.dump();
    status = res.statusCode;
  } catch { /* lost: no answer in time, or the connection failed */ }
  lines.push(`${sentAt} ${(performance.now() - t0).toFixed(2)} ${status} ${gateway}`);
  outstanding--;
}

const start = performance.now();
let sent = 0;
const tick = () => {
  const elapsed = performance.now() - start;
  const due = Math.min(Math.floor((elapsed * opts.rate) / 1000), Math.floor((opts.durationMs * opts.rate) / 1000));
  while (sent < due) void send(sent++);
  if (elapsed < opts.durationMs) setTimeout(tick, 1);
  else void finish();
};
async function finish(): Promise<void> {
  while (outstanding > 0) await new Promise((r) => setTimeout(r, 20));
  clearInterval(flusher);
  flush();
  process.stdout.write('done\n');
  await Promise.all(pools.map((p) => p.close()));
}
tick();
