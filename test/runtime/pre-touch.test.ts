// A server's young generation is reserved at full size by its flags but backed by the kernel only
// as written: pre-touched, RSS is at the working size before the first request (runtime/pre-touch.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

const PRE_TOUCH = new URL('../../src/runtime/pre-touch.js', import.meta.url).href;

const script = `
  import { preTouchYoungGeneration } from '${PRE_TOUCH}';
  const rss = () => process.memoryUsage.rss() / 2 ** 20;
  const before = rss();
  preTouchYoungGeneration();
  console.log(JSON.stringify({ before, after: rss() }));
`;

describe('preTouchYoungGeneration', { skip: process.platform !== 'linux' && 'measured on Linux' }, () => {
  it('makes the young generation resident: RSS grows by most of its 128 MiB', () => {
    const out = execFileSync(process.execPath, [...NODE_FLAGS, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    const { before, after } = JSON.parse(out) as { before: number; after: number };
    assert.ok(after - before >= 100, `RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB`);
  });
});
