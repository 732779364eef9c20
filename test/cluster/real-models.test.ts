// A gateway in front of workers serving real models with unusual signatures: it batches on its own
// side, so it must know each tensor's batch axis (from the load report) and keep shape classes
// apart, or its batches would be wrong before any worker sees them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { startGateway, type RunningGateway } from '../../src/cluster/gateway.js';
import { digitPage } from '../../src/datasets/digit-pages.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { startWorkerProcess, until, type WorkerProcess } from '../helpers/cluster.js';
import { binaryBody, difference, directRun, f32, jsonBody, realModelRepository, REAL_MODEL_FILES, restOutputs, type RealModel } from '../helpers/real-models.js';

describe('a gateway over workers serving real models', { timeout: 120_000 }, () => {
  let repo: ReturnType<typeof realModelRepository>;
  let workers: WorkerProcess[];
  let gateway: RunningGateway;
  let url: string;
  const sessions = new Map<RealModel, ort.InferenceSession>();

  before(async () => {
    repo = realModelRepository(['silero-vad', 'ocr-det']);
    workers = await Promise.all([startWorkerProcess(repo.dir), startWorkerProcess(repo.dir)]);
    // One worker over REST, one over gRPC: the batch axes travel in both load reports.
    gateway = await startGateway({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, logLevel: 'silent', workers: [`http://127.0.0.1:${workers[0].httpPort}`, workers[1].address] });
    url = `http://127.0.0.1:${gateway.httpPort}`;
    await until(() => gateway.workers.list().filter((w) => w.up).length === 2, 20_000, 'gateway sees both workers');
    for (const m of ['silero-vad', 'ocr-det'] as const) sessions.set(m, await ort.InferenceSession.create(REAL_MODEL_FILES[m], { intraOpNumThreads: 1 }));
  });

  after(async () => {
    await gateway.close();
    await Promise.all(workers.map((w) => w.kill()));
    for (const s of sessions.values()) await s.release();
    repo.remove();
  });

  it('answers 300 concurrent requests of mixed states, sample rates and page sizes exactly as ONNX Runtime alone', async () => {
    const vad = (rows: number, hz: number, seed: number): Tensor[] => [
      f32('input', [rows, hz === 16000 ? 512 : 256], seed, -0.5, 0.5), f32('state', [2, rows, 128], seed + 1, -1, 1),
      { name: 'sr', datatype: 'INT64', shape: [], data: BigInt64Array.of(BigInt(hz)) },
    ];
    const payloads: Array<{ model: RealModel; inputs: Tensor[] }> = [
      ...Array.from({ length: 8 }, (_, k) => ({ model: 'silero-vad' as const, inputs: vad(1 + (k % 3), k % 2 ? 8000 : 16000, 300 + k) })),
      ...[[32, 64], [64, 32], [64, 64]].map(([h, w], k) => ({ model: 'ocr-det' as const, inputs: [digitPage(h, w, 310 + k)] })),
    ];
    const expected = await Promise.all(payloads.map((p) => directRun(sessions.get(p.model)!, p.inputs)));
    const results = await Promise.all(Array.from({ length: 300 }, async (_, i) => {
      const p = i % payloads.length;
      const { model, inputs } = payloads[p];
      const init = i % 2 ? { body: jsonBody(inputs) } : binaryBody(inputs);
      try {
        const { outputs, parameters } = await restOutputs(await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', ...init }));
        return { wrong: difference(outputs, expected[p]), batch: Number(parameters.batch_size), rows: inputs[0].shape[0] };
      } catch (e) {
        return { wrong: (e as Error).message, batch: 0, rows: 0 };
      }
    }));
    const wrong = results.filter((r) => r.wrong);
    assert.equal(wrong.length, 0, `${wrong.length} of 300 wrong, e.g. ${wrong[0]?.wrong}`);
    assert.ok(results.some((r) => r.batch > r.rows), 'the gateway still formed batches');
  });
});
