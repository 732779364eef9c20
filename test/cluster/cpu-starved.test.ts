// The cluster on a machine starved of CPU (#18): three busy loops beside Redis, one worker and two
// gateway processes on two cores (load average ~5). Checked: a tenant offering 3R through both
// gateways is admitted R ± 10%, and every request is answered 200 or 429 (late load reports do not
// take the worker out while its batches come back).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { admittedPerSecond, clusterRepository, meteredTenants, offerMetered, redisMissing, startGatewayProcess, startRedis, startWorkerProcess, until, type RedisProcess, type TestRole } from '../helpers/cluster.js';

const R = 200;
const ADMIN = 'starved-admin';

describe('a cluster starved of CPU', { skip: redisMissing(), timeout: 120_000 }, () => {
  let redis: RedisProcess;
  let repo: ReturnType<typeof clusterRepository>;
  let worker: TestRole;
  const gateways: TestRole[] = [];
  const hogs: ChildProcess[] = [];

  before(async () => {
    redis = await startRedis();
    repo = clusterRepository();
    const tenants = meteredTenants(repo.dir, R);
    worker = await startWorkerProcess(repo.dir, redis.url);
    for (let i = 0; i < 2; i++) gateways.push(await startGatewayProcess(redis.url, ['--tenants', tenants, '--gateway-id', `gw${i}`, '--admin-token', ADMIN]));
    const view = async (g: TestRole) => (await fetch(`http://127.0.0.1:${g.httpPort}/v2/pareto/cluster`, { headers: { authorization: `Bearer ${ADMIN}` } })).json() as Promise<{ gateways: number; workers: Array<{ up: boolean }> }>;
    await until(async () => (await Promise.all(gateways.map(view))).every((v) => v.gateways === 2 && v.workers.some((w) => w.up)), 10_000, 'both gateways see the worker and each other');
    for (let i = 0; i < 3; i++) hogs.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  });

  after(async () => {
    for (const h of hogs) h.kill('SIGKILL');
    await Promise.all(gateways.map((g) => g.kill()));
    await worker?.kill();
    await redis?.stop();
    repo?.remove();
  });

  it(`holds a tenant offering 3R through both gateways to R ± 10% (R = ${R} samples/s), every request answered 200 or 429`, async () => {
    const OFFER_MS = 6000;
    const offered = await offerMetered(gateways.map((g) => `http://127.0.0.1:${g.httpPort}`), 3 * R, OFFER_MS);
    const { statuses } = offered;
    // Over the middle of the offer: the start holds the bucket's burst.
    const [from, to] = [2000, OFFER_MS];
    const admitted = admittedPerSecond(offered, from, to);
    console.log(`# sent ${offered.requests.length}; statuses ${JSON.stringify([...statuses])}; admitted ${admitted.toFixed(1)}/s from ${from} to ${to} ms; last answer at ${Math.max(...offered.requests.map((r) => r.at + r.ms)).toFixed(0)} ms`);
    assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 429), [], `only answers and rate refusals: ${JSON.stringify([...statuses])}`);
    assert.ok(Math.abs(admitted - R) <= 0.1 * R, `admitted ${admitted.toFixed(1)}/s, not within 10% of ${R}`);
  });
});
