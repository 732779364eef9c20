// A server that reloads a model gives back what the replaced version held: 100 reloads of one
// model in a `pareto serve` process (Pareto's allocator settings, 2 executors), each followed by
// an inference on the new version, leave RSS within 5% of where it stood after the first.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startRole } from '../../src/cluster/local-cluster.js';
import { binaryInfer, BUNDLED_MODELS, digits } from '../helpers/server.js';

const CYCLES = 100;
const ADMIN = 'reload-test-admin-token';

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('reload memory', { timeout: 240_000, skip: process.platform === 'linux' ? false : 'reads RSS from /proc' }, () => {
  it(`${CYCLES} reloads leave RSS within 5% of its level after the first`, async () => {
    const repo = mkdtempSync(join(tmpdir(), 'pareto-reload-'));
    cpSync(join(BUNDLED_MODELS, 'mnist-mlp'), join(repo, 'mnist-mlp'), { recursive: true });
    const server = await startRole(['serve', '--repository', repo, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', '--executors', '2', '--admin-token', ADMIN]);
    const origin = `http://127.0.0.1:${server.httpPort}`;
    const { body, headers } = binaryInfer(digits(0, 4).pixels, 4);
    const rss: number[] = [];
    try {
      for (let i = 0; i < CYCLES; i++) {
        const load = await fetch(`${origin}/v2/repository/models/mnist-mlp/load`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
        assert.equal(load.status, 200, await load.text());
        const infer = await fetch(`${origin}/v2/models/mnist-mlp/infer`, { method: 'POST', body: new Uint8Array(body), headers });
        assert.equal(infer.status, 200);
        await infer.arrayBuffer();
        rss.push(rssMiB(server.child.pid!));
      }
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      rmSync(repo, { recursive: true, force: true });
    }
    const growth = rss[rss.length - 1] / rss[0] - 1;
    const at = (i: number) => rss[i].toFixed(0);
    assert.ok(growth <= 0.05, `RSS after reload 1: ${at(0)} MiB, 10: ${at(9)}, 50: ${at(49)}, ${CYCLES}: ${at(CYCLES - 1)} (+${(100 * growth).toFixed(1)}%)`);
  });
});
