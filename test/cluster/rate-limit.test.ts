// Cluster-wide tenant rate limits through two real gateways sharing one real Redis: a tenant
// limited to R samples/s sending 3R is held to R ± 10% overall; with Redis killed the gateways
// fall back to R ÷ 2 each and keep serving, and go back to the shared bucket when it returns.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../../src/cluster/gateway.js';
import { admittedPerSecond, clusterRepository, meteredTenants, offerMetered, redisMissing, startRedis, startWorkerProcess, until, type Offered, type RedisProcess, type WorkerProcess } from '../helpers/cluster.js';

const skip = redisMissing();
const R = 200;

describe('cluster-wide rate limits', { skip, timeout: 120_000 }, () => {
  let redis: RedisProcess;
  let repo: ReturnType<typeof clusterRepository>;
  let worker: WorkerProcess;
  const gateways: RunningGateway[] = [];

  before(async () => {
    redis = await startRedis();
    repo = clusterRepository();
    const tenants = meteredTenants(repo.dir, R);
    worker = await startWorkerProcess(repo.dir, redis.url);
    for (let i = 0; i < 2; i++) gateways.push(await startGateway({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, redis: redis.url, tenants, gatewayId: `gw${i}`, logLevel: 'silent' }));
    await until(() => gateways.every((g) => g.workers.list().some((w) => w.up) && g.rateLimit!.gateways === 2), 10_000, 'both gateways see the worker and each other');
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await worker.kill();
    await redis.stop();
    repo.remove();
  });

  const origins = () => gateways.map((g) => `http://127.0.0.1:${g.httpPort}`);

  it('refuses nothing to a tenant within its rate, and asks Redis once per chunk of tokens, not per request', async () => {
    await new Promise((r) => setTimeout(r, 300)); // let the bucket refill after set-up
    const callsBefore = gateways.reduce((a, g) => a + g.rateLimit!.calls, 0);
    const { statuses } = await offerMetered(origins(), R / 2, 2000);
    const calls = gateways.reduce((a, g) => a + g.rateLimit!.calls, 0) - callsBefore;
    assert.deepEqual([...statuses.keys()], [200], JSON.stringify([...statuses]));
    assert.ok(calls <= (statuses.get(200)! / 10) + 4, `${calls} Redis calls for ${statuses.get(200)} requests (chunks of 10)`);
  });

  it(`holds a tenant sending 3R through both gateways to R ± 10% (R = ${R} samples/s)`, async () => {
    const callsBefore = gateways.reduce((a, g) => a + g.rateLimit!.calls, 0);
    const offered = await offerMetered(origins(), 3 * R, 4000);
    const { statuses } = offered;
    // Over the offer's second half: the first holds the bucket's burst.
    const admittedRate = admittedPerSecond(offered, 2000, 4000);
    const ok = statuses.get(200) ?? 0;
    const calls = gateways.reduce((a, g) => a + g.rateLimit!.calls, 0) - callsBefore;
    console.log(`# offered ${offered.requests.length} in 4 s; admitted ${ok}, ${admittedRate.toFixed(1)}/s over the last 2 s vs R = ${R}; refused ${statuses.get(429) ?? 0}; Redis calls ${calls}`);
    assert.deepEqual([...statuses.keys()].sort(), [200, 429]);
    assert.ok(Math.abs(admittedRate - R) <= 0.1 * R, `admitted ${admittedRate.toFixed(1)}/s, not within 10% of ${R}`);
    assert.ok(calls < ok / 2, `the local allowance spares Redis most calls: ${calls} calls for ${ok} admitted`);
  });

  it('Redis killed under load: serving goes on at R ÷ gateways each, and the shared limit returns with Redis', async () => {
    let killedAt = 0, restartedAt = 0, localSeen = false, globalAgain = -1;
    const { statuses } = await offerMetered(origins(), 3 * R, 5000, async (t) => {
      if (!killedAt && t > 1000) { killedAt = t; await redis.stop(); }
      if (killedAt && !restartedAt) localSeen ||= gateways.every((g) => !g.rateLimit!.global);
      if (!restartedAt && t > 3000) { restartedAt = t; await redis.start(); }
      if (restartedAt && globalAgain < 0 && gateways.every((g) => g.rateLimit!.global)) globalAgain = t - restartedAt;
    });
    console.log(`# statuses ${JSON.stringify([...statuses])}; local limits seen: ${localSeen}; shared again ${globalAgain.toFixed(0)} ms after Redis restarted`);
    assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 429), [], 'only answers and rate refusals while Redis comes and goes');
    assert.ok(localSeen, 'both gateways fell back to local limits');
    await until(() => gateways.every((g) => g.rateLimit!.global), 5000, 'both gateways share limits through Redis again');
    const ok = statuses.get(200) ?? 0;
    // About R overall whichever way the limit was enforced (2 s shared, 2 s local, 1 s shared).
    assert.ok(ok > 0.8 * R * 5 && ok < 1.2 * R * 5 + 60, `admitted ${ok} in 5 s at R = ${R}`);
    // The worker re-announced itself to the new Redis and was never dropped.
    assert.ok(gateways.every((g) => g.workers.list().some((w) => w.up)));
  });

  it('Redis that stops answering (SIGSTOP): local limits after one command timeout, no admission waits on it after that, shared again once it answers', async () => {
    const flips = [{ t: 0, global: gateways[0].rateLimit!.global }];
    let stoppedAt = 0, resumedAt = 0;
    let timed: Offered['requests'];
    try {
      // Half the rate: every request is within the limit.
      ({ requests: timed } = await offerMetered(origins(), R / 2, 6000, (t) => {
        if (!stoppedAt && t > 1000) { stoppedAt = t; redis.signal('SIGSTOP'); }
        if (stoppedAt && !resumedAt && t > 3500) { resumedAt = t; redis.signal('SIGCONT'); }
        const global = gateways[0].rateLimit!.global;
        if (global !== flips[flips.length - 1].global) flips.push({ t, global });
      }));
    } finally {
      if (!resumedAt) redis.signal('SIGCONT');
    }
    await until(() => gateways.every((g) => g.rateLimit!.global), 5000, 'both gateways share limits through Redis again');
    const stalled = timed.filter((x) => x.at > stoppedAt + 1000 && x.at < resumedAt && x.ms >= 400);
    console.log(`# modes ${JSON.stringify(flips)}; while stopped (after the first second): ${timed.filter((x) => x.at > stoppedAt + 1000 && x.at < resumedAt).length} requests, ${stalled.length} took ≥ 400 ms`);
    assert.deepEqual(timed.filter((x) => x.status !== 200).map((x) => `${x.status} at ${x.at.toFixed(0)} ms`), []);
    // Shared, local once Redis stopped answering, and shared again only after it answered again: no flapping.
    assert.deepEqual(flips.map((f) => f.global).slice(0, 2), [true, false], JSON.stringify(flips));
    assert.ok(flips.length <= 3 && flips[1].t >= stoppedAt && (flips.length < 3 || flips[2].t > resumedAt), `modes: ${JSON.stringify(flips)}; stopped ${stoppedAt.toFixed(0)}, resumed ${resumedAt.toFixed(0)}`);
    assert.deepEqual(stalled, [], 'no admission waited out a command timeout once the gateway knew');
  });
});
