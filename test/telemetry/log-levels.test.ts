import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Telemetry } from '../../src/telemetry/telemetry.js';

describe('request log levels', () => {
  it('logs server faults at error, and refusals (400, 429, 503, 504) only at debug', () => {
    const lines: Array<{ level: number; status: number }> = [];
    const destination = new Writable({ write(chunk, _, done) { lines.push(JSON.parse(String(chunk))); done(); } });
    const gauges = { queuedSamples: () => new Map(), inflightBatches: () => 0, utilization: () => 0, preferredVariants: () => new Map(), models: () => [], doorCpuMs: () => new Map(), modelGauges: () => new Map() };
    const telemetry = new Telemetry({ logLevel: 'info', gauges: gauges as never, tenantSlo: () => undefined, destination: { write: (s: string) => destination.write(s) } });
    for (const status of [200, 400, 429, 503, 504, 500]) {
      telemetry.request({ tenant: 't', model: 'm', version: '', outcome: String(status), samples: 1, durationMs: 1, status, message: 'x' });
    }
    telemetry.close();
    assert.deepEqual(lines.map((l) => [l.status, l.level]), [[500, 50]]);
  });
});
