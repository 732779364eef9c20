import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

const MODULE = new URL('../../src/loadgen/wake-timer.js', import.meta.url).href;

describe('wake timer', () => {
  it('starts and fires in a process with nothing else pending, not early', () => {
    // Its thread is unreferenced between waits; while it started, nothing held the event loop and
    // a process (or worker) doing nothing else ended with the start still pending (exit code 13).
    // Run as ES module text: the sleeper thread must not inherit --input-type=module.
    const script = `
      import { WakeTimer } from '${MODULE}';
      const timer = await WakeTimer.start();
      const t0 = performance.now();
      timer.after(20, () => { console.log(performance.now() - t0); void timer.close(); });
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    const elapsed = Number(out.trim());
    assert.ok(elapsed >= 19.5, `fired after ${elapsed} ms of 20`);
  });
});
