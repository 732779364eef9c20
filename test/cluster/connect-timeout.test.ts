// A REST connection to a worker that is not made in time (a lost SYN, whose retransmit waits 1 s)
// is no answer in time, not a refusal: the gateway treats it as a live worker's possible slowness
// (worker-set.ts), where a refused or reset connection takes the worker out at once. The listener
// here is a real one whose process is stopped with its accept queue full: the kernel drops new SYNs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { RestWorkerClient } from '../../src/cluster/rest-worker-client.js';
import { WorkerUnreachableError } from '../../src/cluster/worker-client.js';

const LISTENER = "const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(s.address().port));";

describe('a REST worker connection', () => {
  it('not made within its connect timeout is no answer in time; a refused one is a refusal', async () => {
    const child = spawn(process.execPath, ['-e', LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sockets: Socket[] = [];
    try {
      const [line] = await once(child.stdout!, 'data') as [Buffer];
      const port = Number(line.toString().trim());
      child.kill('SIGSTOP');
      // Fill the accept queue (backlog 1 holds two): later SYNs are dropped.
      for (let i = 0; i < 2; i++) {
        const s = connect(port, '127.0.0.1');
        sockets.push(s);
        await once(s, 'connect');
      }
      const client = new RestWorkerClient('stalled', `http://127.0.0.1:${port}`, undefined, 200);
      // undici's connect timer is coarse (200 ms fired after ~1 s here): the call's own timeout is
      // longer, so that the connect timeout is what ends it.
      const e = await client.report(3000).then(() => undefined, (x: unknown) => x);
      client.close();
      assert.ok(e instanceof WorkerUnreachableError, String(e));
      assert.match(e.message, /Connect Timeout/);
      assert.equal(e.timedOut, true, e.message);
    } finally {
      for (const s of sockets) s.destroy();
      child.kill('SIGKILL');
    }
    // A port nobody listens on: refused at once, no slowness.
    const free = createServer().listen(0, '127.0.0.1');
    await once(free, 'listening');
    const { port } = free.address() as AddressInfo;
    await new Promise((r) => free.close(r));
    const client = new RestWorkerClient('gone', `http://127.0.0.1:${port}`, undefined, 200);
    const refused = await client.report(1000).then(() => undefined, (x: unknown) => x);
    client.close();
    assert.ok(refused instanceof WorkerUnreachableError, String(refused));
    assert.equal(refused.timedOut, false, refused.message);
  });
});
