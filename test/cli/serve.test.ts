import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
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
