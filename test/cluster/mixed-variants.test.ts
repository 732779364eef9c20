// Workers of one model mid-upgrade, with different variants: the gateway knows the union, and each
// batch goes to a worker that has the variant the planner (or the client) chose.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, type RunningGateway } from '../../src/cluster/gateway.js';
import { clusterRepository, reportGate, startWorkerProcess, until, type WorkerProcess } from '../helpers/cluster.js';
import { binaryInfer, digits } from '../helpers/server.js';

describe('workers with different variants of a model', { timeout: 60_000 }, () => {
  let full: ReturnType<typeof clusterRepository>;
  let partial: ReturnType<typeof clusterRepository>;
  let workers: { full: WorkerProcess; partial: WorkerProcess };
  let gateway: RunningGateway;
  let url: string;

  before(async () => {
    full = clusterRepository();
    partial = clusterRepository();
    // The partial worker has no int8 (as if int8 were added in the release it has not got yet).
    const yamlFile = join(partial.dir, 'mnist-mlp/model.yaml');
    const yaml = readFileSync(yamlFile, 'utf8');
    assert.ok(yaml.includes('  - name: int8\n'));
    writeFileSync(yamlFile, yaml.replace('  - name: int8\n', ''));
    rmSync(join(partial.dir, 'mnist-mlp/int8'), { recursive: true });
    const [f, p] = await Promise.all([startWorkerProcess(full.dir), startWorkerProcess(partial.dir)]);
    workers = { full: f, partial: p };
    gateway = await startGateway({
      host: '127.0.0.1', httpPort: 0, grpcPort: 0, logLevel: 'silent',
      workers: [`http://127.0.0.1:${p.httpPort}`, `http://127.0.0.1:${f.httpPort}`],
    });
    url = `http://127.0.0.1:${gateway.httpPort}`;
    await until(() => gateway.workers.list().filter((w) => w.up).length === 2, 10_000, 'gateway sees both workers');
  });

  after(async () => {
    await gateway.close();
    await Promise.all([workers.full.kill(), workers.partial.kill()]);
    full.remove();
    partial.remove();
  });

  const infer = async (version: string) => {
    const { body, headers } = binaryInfer(digits(0, 2).pixels, 2);
    const res = await fetch(`${url}/v2/models/mnist-mlp/versions/${version}/infer`, { method: 'POST', body: new Uint8Array(body), headers });
    await res.arrayBuffer();
    return { status: res.status, variant: res.headers.get('pareto-variant') };
  };

  it('knows every variant any worker serves', async () => {
    const index = await (await fetch(`${url}/v2/models/mnist-mlp`)).json() as { versions: string[] };
    assert.ok(index.versions.includes('int8'), JSON.stringify(index.versions));
  });

  it('sends a variant only to the workers that have it, and shared variants to both', async () => {
    const partialState = gateway.workers.list().find((w) => w.member.http === `http://127.0.0.1:${workers.partial.httpPort}`)!;
    const fullState = gateway.workers.list().find((w) => w.member.http === `http://127.0.0.1:${workers.full.httpPort}`)!;
    const before = { partial: partialState.batches, full: fullState.batches };
    const int8 = await Promise.all(Array.from({ length: 24 }, () => infer('int8')));
    assert.deepEqual(int8.filter((r) => r.status !== 200 || r.variant !== 'int8'), []);
    assert.equal(partialState.batches, before.partial, 'no int8 batch went to the worker without int8');
    assert.ok(fullState.batches > before.full);
    // fp32 is on both: the batches spread over both workers.
    const fp32 = await Promise.all(Array.from({ length: 48 }, () => infer('fp32')));
    assert.deepEqual(fp32.filter((r) => r.status !== 200), []);
    assert.ok(partialState.batches > before.partial, 'the worker without int8 still gets fp32 batches');
    assert.equal(gateway.workers.retries, 0);
  });
});

describe('a variant that arrives with a later worker', { timeout: 60_000 }, () => {
  let fp32Only: ReturnType<typeof clusterRepository>;
  let full: ReturnType<typeof clusterRepository>;
  let workers: WorkerProcess[];
  let gate: Awaited<ReturnType<typeof reportGate>>;
  let gateway: RunningGateway;

  before(async () => {
    fp32Only = clusterRepository();
    full = clusterRepository();
    for (const repo of [fp32Only, full]) {
      const file = join(repo.dir, 'mnist-mlp/model.yaml');
      let yaml = readFileSync(file, 'utf8') + 'scheduling:\n  policy: most-accurate\n';
      if (repo === fp32Only) yaml = yaml.replace(/variants:\n(  - name: .*\n)+/, 'variants:\n  - name: fp32\n');
      writeFileSync(file, yaml);
    }
    workers = await Promise.all([startWorkerProcess(fp32Only.dir), startWorkerProcess(full.dir)]);
    // The full worker's load report is refused at first: the gateway knows fp32 alone.
    gate = await reportGate(`http://127.0.0.1:${workers[1].httpPort}`);
    gate.reports = 'refuse';
    gateway = await startGateway({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, logLevel: 'silent', workers: [`http://127.0.0.1:${workers[0].httpPort}`, gate.url] });
    await until(() => gateway.workers.list().filter((w) => w.up).length === 1, 10_000, 'gateway sees the fp32-only worker');
  });

  after(async () => {
    await gateway.close();
    await gate.close();
    await Promise.all(workers.map((w) => w.kill()));
    fp32Only.remove();
    full.remove();
  });

  it('joins the planner of unpinned requests, which serves it, and leaves it when its worker dies', async () => {
    const unpinned = async () => {
      const { body, headers } = binaryInfer(digits(0, 2).pixels, 2);
      const res = await fetch(`http://127.0.0.1:${gateway.httpPort}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers });
      await res.arrayBuffer();
      return { status: res.status, variant: res.headers.get('pareto-variant') };
    };
    assert.deepEqual(await unpinned(), { status: 200, variant: 'fp32' });
    gate.reports = 'pass';
    await until(() => gateway.workers.list().filter((w) => w.up).length === 2, 10_000, 'gateway sees the full worker');
    // most-accurate: tta9 (98.27%), which only the full worker has.
    assert.deepEqual(await unpinned(), { status: 200, variant: 'tta9' });
    // That worker dies: unpinned requests fall back to what the others serve, not to 503.
    await workers[1].kill();
    await until(() => gateway.workers.list().filter((w) => w.up).length === 1, 10_000, 'gateway marks the full worker down');
    assert.deepEqual(await unpinned(), { status: 200, variant: 'fp32' });
  });
});
