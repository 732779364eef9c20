// Idle REST connections stay open --keep-alive-timeout-ms (65 s by default, not Node's 5 s), then close.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FrontDoorOptionsSchema } from '../../src/front-door.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const KEEP_ALIVE_MS = 1000;
let server: TestServer;
before(async () => { server = await startTestServer({ tenants: undefined, keepAliveTimeoutMs: KEEP_ALIVE_MS }); });
after(() => server.close());

/** Sends one request on `sock` and resolves with its status line. */
async function get(sock: net.Socket): Promise<string> {
  sock.write('GET /v2/health/live HTTP/1.1\r\nHost: pareto\r\n\r\n');
  const [data] = await once(sock, 'data');
  return String(data).split('\r\n')[0];
}

describe('keep-alive', () => {
  it('an idle connection is reused until the timeout, then closed by the server', async () => {
    const sock = net.connect(server.httpPort, '127.0.0.1');
    await once(sock, 'connect');
    assert.equal(await get(sock), 'HTTP/1.1 200 OK');
    const idleFrom = performance.now();
    // Half the timeout idle (a timer, not a wait for an event: idleness is the point), then reused.
    await new Promise((r) => setTimeout(r, KEEP_ALIVE_MS / 2));
    assert.equal(await get(sock), 'HTTP/1.1 200 OK', 'reused within the timeout');
    const reusedAt = performance.now();
    await once(sock, 'close');
    const idle = performance.now() - reusedAt;
    // Node closes ~1 s after the timeout; without the flag it would wait its default 5 s.
    assert.ok(idle >= KEEP_ALIVE_MS * 0.9 && idle < 4000, `closed ${idle.toFixed(0)} ms after its last request`);
    assert.ok(reusedAt - idleFrom >= KEEP_ALIVE_MS / 2 - 5);
  });

  it('defaults to 65 s, above a load balancer\'s idle timeout', () => {
    assert.equal(FrontDoorOptionsSchema.parse({}).keepAliveTimeoutMs, 65_000);
  });
});
