// A body too large for the buffer pool (tensor/buffer-pool.ts) is a plain allocation that V8 frees
// only when it next collects; with no other traffic that could be minutes, so the server collects
// once such a body is let go. On a `pareto serve` process as shipped (its V8 flags included).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startRole, type RoleProcess } from '../../src/cluster/local-cluster.js';
import { BUNDLED_MODELS } from '../helpers/server.js';
import { rssMiB } from '../../bench/lib/processes.js';

const MiB = 1024 * 1024;
let server: RoleProcess;
before(async () => { server = await startRole(['serve', '--repository', BUNDLED_MODELS, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn']); });
after(async () => {
  server.child.kill('SIGTERM');
  await server.exited;
});

/** Sends 40 MiB of a declared 48 MiB binary body, then nothing: held until the server's body-rate floor cuts it (408). */
async function heldBody(port: number): Promise<string> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(`POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nHost: pareto\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: 8\r\nContent-Length: ${48 * MiB}\r\n\r\n`);
  const chunk = Buffer.alloc(MiB, 7);
  for (let sent = 0; sent < 40 * MiB; sent += chunk.length) if (!sock.write(chunk)) await once(sock, 'drain');
  let answer = '';
  sock.on('data', (d) => { answer += d; });
  await once(sock, 'close');
  return answer.split('\r\n')[0];
}

/** Waits (polling /proc, a tenth of a second at a time) until RSS is within `margin` MiB of `target`; the RSS it saw last. */
async function rssBackTo(pid: number, target: number, margin: number, withinMs: number): Promise<number> {
  const until = performance.now() + withinMs;
  let rss = rssMiB(pid);
  while (rss > target + margin && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    rss = rssMiB(pid);
  }
  return rss;
}

describe('large request bodies', () => {
  it('give their memory back once they are let go', async () => {
    const pid = server.child.pid!;
    const baseline = rssMiB(pid);
    const statuses = await Promise.all([1, 2, 3].map(() => heldBody(server.httpPort)));
    assert.deepEqual(statuses, Array(3).fill('HTTP/1.1 408 Request Timeout'));
    const rss = await rssBackTo(pid, baseline, 40, 5000);
    assert.ok(rss <= baseline + 40, `RSS ${rss.toFixed(0)} MiB, ${(rss - baseline).toFixed(0)} MiB above ${baseline.toFixed(0)} after three held 40 MiB bodies`);
  });
});
