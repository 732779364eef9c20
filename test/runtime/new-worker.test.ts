// Pareto's processes start with heap flags sized for the event loop; V8 would apply them to every
// worker thread's heap too, over the worker's own resourceLimits (runtime/new-worker.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

const NEW_WORKER = new URL('../../src/runtime/new-worker.js', import.meta.url).href;

/** Allocates enough short-lived objects, with enough of them alive at a time, to grow a young generation to its limit; its size in MiB. */
const CHURN = `function youngAfterChurn(v8) {
  let keep = [];
  for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: [i, i] }); if (keep.length > 2e5) keep = []; }
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
}`;
const WORKER = `${CHURN}\nrequire('node:worker_threads').parentPort.postMessage(youngAfterChurn(require('node:v8')));`;

const script = `
  import { newWorker } from '${NEW_WORKER}';
  import { once } from 'node:events';
  import v8 from 'node:v8';
  ${CHURN}
  const worker = async (options) => {
    const w = newWorker(${JSON.stringify(WORKER)}, { eval: true, execArgv: [], ...options });
    const [size] = await once(w, 'message');
    await w.terminate();
    return size;
  };
  console.log(JSON.stringify({ main: youngAfterChurn(v8), worker: await worker({}), limited: await worker({ resourceLimits: { maxYoungGenerationSizeMb: 12 } }) }));
`;

describe('newWorker', () => {
  it('leaves the process heap flags to the main thread: a worker gets V8 defaults, or its resourceLimits', () => {
    const out = execFileSync(process.execPath, [...NODE_FLAGS, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    const sizes = JSON.parse(out) as { main: number; worker: number; limited: number };
    assert.equal(sizes.main, 128, 'the main thread keeps its two 64 MiB semi-spaces');
    assert.ok(sizes.worker <= 32, `a worker's young generation grew to ${sizes.worker} MiB (V8's default: up to 32)`);
    assert.ok(sizes.limited <= 8, `a worker asking for 12 MiB of young generation got ${sizes.limited} MiB`);
  });
});
