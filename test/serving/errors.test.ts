// Client-visible errors: only a server fault carries a stack, and building the others leaves the
// process's stack trace limit as it was.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ForbiddenError, InferenceFailedError, InvalidRequestError, OverloadedError, RateLimitedError } from '../../src/errors.js';

it('keeps a stack only for server faults (500)', () => {
  const frames = (e: Error) => (e.stack ?? '').split('\n').filter((l) => l.trim().startsWith('at ')).length;
  const limit = Error.stackTraceLimit;
  for (const e of [new InvalidRequestError('bad'), new ForbiddenError('t', 'm'), new RateLimitedError('slow down', 1), new OverloadedError('full')]) {
    assert.equal(frames(e), 0, e.name);
    assert.ok(e.stack?.includes(e.message), 'the stack line still names the error');
  }
  assert.ok(frames(new InferenceFailedError('m', 'v', 'boom')) > 0);
  assert.equal(Error.stackTraceLimit, limit);
});
