import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { startRole, type RoleProcess } from '../../src/cluster/local-cluster.js';
import { freePort } from '../../src/cluster/redis-server.js';
import { argmax, BUNDLED_MODELS, digits, jsonInfer } from '../helpers/server.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

describe('pareto serve', () => {
  it('prints the free ports it picked, serves, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--repository', BUNDLED_MODELS, '--host', '127.0.0.1', '--http-port', '0'], {
      env: { ...process.env, PARETO_GRPC_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const ports: Record<string, number> = {};
    for await (const line of createInterface({ input: child.stdout! })) {
      const m = /^(http_port|grpc_port)=(\d+)$/.exec(line);
      if (m) ports[m[1]] = Number(m[2]);
      if (line.startsWith('pareto serving')) break;
    }
    assert.ok(ports.http_port > 0 && ports.grpc_port > 0, JSON.stringify(ports));
    const { pixels, labels } = digits(0, 1);
    const res = await fetch(`http://127.0.0.1:${ports.http_port}/v2/models/mnist-mlp/infer`, { method: 'POST', body: jsonInfer(pixels, 1) });
    assert.equal(argmax((await res.json()).outputs[0].data), labels[0]);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });

  it('has useful --help on the command', () => {
    const out = spawnSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8' }).stdout;
    for (const flag of ['--http-port', '--grpc-port', '--repository', '--executors', 'PARETO_HTTP_PORT', 'Examples']) assert.ok(out.includes(flag), flag);
  });

  it('rejects a bad option with a clear message', () => {
    const r = spawnSync(process.execPath, [CLI, 'serve', '--http-port', 'eighty'], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /not an integer/);
  });
});

describe('pareto worker and pareto gateway on the command line', () => {
  it('worker --listen host:port puts gRPC there, and a gateway given that address serves through it', async () => {
    // A port found free can be taken (another test's outgoing connection) before the worker binds it: then another.
    const startWorker = async (): Promise<{ worker: RoleProcess; grpcPort: number }> => {
      for (let tries = 1; ; tries++) {
        const grpcPort = await freePort();
        try {
          return { worker: await startRole(['worker', '--repository', BUNDLED_MODELS, '--listen', `127.0.0.1:${grpcPort}`, '--http-port', '0', '--executors', '1']), grpcPort };
        } catch (e) {
          if (tries === 3) throw e;
        }
      }
    };
    const { worker, grpcPort } = await startWorker();
    const gateway = await startRole(['gateway', '--workers', `127.0.0.1:${grpcPort}`, '--worker-protocol', 'grpc', '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0']);
    try {
      assert.equal(worker.grpcPort, grpcPort);
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await fetch(`http://127.0.0.1:${gateway.httpPort}/v2/health/ready`)).status !== 200) await new Promise((r) => setTimeout(r, 50));
      const { pixels, labels } = digits(0, 1);
      const res = await fetch(`http://127.0.0.1:${gateway.httpPort}/v2/models/mnist-mlp/infer`, { method: 'POST', body: jsonInfer(pixels, 1) });
      assert.equal(argmax((await res.json()).outputs[0].data), labels[0]);
    } finally {
      worker.child.kill('SIGTERM');
      gateway.child.kill('SIGTERM');
      assert.deepEqual(await Promise.all([worker.exited, gateway.exited]), [0, 0]);
    }
  });

  it('--help on worker, gateway and cluster up names their options', () => {
    const help = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--help'], { encoding: 'utf8' }).stdout;
    const worker = help('worker'), gateway = help('gateway'), cluster = help('cluster', 'up');
    for (const flag of ['--listen', '--redis', '--advertise-host', 'PARETO_REDIS', 'Examples']) assert.ok(worker.includes(flag), `worker ${flag}`);
    for (const flag of ['--redis', '--workers', '--worker-protocol', '--worker-key', '--tenants', 'Examples']) assert.ok(gateway.includes(flag), `gateway ${flag}`);
    for (const flag of ['--min-workers', '--max-workers', '--gateways', '--scale-interval']) assert.ok(cluster.includes(flag), `cluster up ${flag}`);
  });
});
