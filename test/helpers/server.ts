// Starts the real server in-process on ephemeral ports, and gives tests real MNIST digits.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist, type LabelledImages } from '../../src/datasets/mnist.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';

export const ADMIN_TOKEN = 'test-admin-token';
export const BUNDLED_MODELS = new URL('../../../models', import.meta.url).pathname;

export interface TestServer extends RunningServer {
  url: string;
  grpcAddress: string;
  /** The tenants file it reads (`tenantsYaml`, or `tenants` as given). */
  tenantsPath?: string;
}

/**
 * `tenantsYaml`: the server's tenants.yaml, written to a directory of its own (removed on close),
 * so that a test with tenants needs no scratch copy of the repository.
 */
export async function startTestServer(opts: ServerOptions & { tenantsYaml?: string } = {}): Promise<TestServer> {
  const { tenantsYaml, ...options } = opts;
  const dir = tenantsYaml === undefined ? undefined : mkdtempSync(join(tmpdir(), 'pareto-tenants-'));
  const tenants = dir ? join(dir, 'tenants.yaml') : options.tenants;
  if (dir && tenants) writeFileSync(tenants, tenantsYaml!);
  let server: RunningServer;
  try {
    server = await startServer({ repository: BUNDLED_MODELS, host: '127.0.0.1', httpPort: 0, grpcPort: 0, adminToken: ADMIN_TOKEN, executors: 2, ...options, tenants });
  } catch (e) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    ...server, url: `http://127.0.0.1:${server.httpPort}`, grpcAddress: `127.0.0.1:${server.grpcPort}`, tenantsPath: tenants,
    close: async () => {
      await server.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A scratch copy of the bundled repository that a test may change. */
export function scratchRepository(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-repo-'));
  cpSync(BUNDLED_MODELS, dir, { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

let test: LabelledImages | undefined;
export function mnistTest(): LabelledImages {
  test ??= loadMnist('test');
  return test;
}

/** Test digits [start, start + n) as a flat pixel array and their labels. */
export function digits(start: number, n: number): { pixels: Float32Array; labels: number[] } {
  const t = mnistTest();
  return { pixels: t.pixels.slice(start * 784, (start + n) * 784), labels: Array.from(t.labels.subarray(start, start + n)) };
}

export function argmax(row: ArrayLike<number>, offset = 0, width = row.length): number {
  let best = 0;
  for (let j = 1; j < width; j++) if (row[offset + j] > row[offset + best]) best = j;
  return best;
}

export function jsonInfer(pixels: Float32Array, rows: number, extra: Record<string, unknown> = {}) {
  return JSON.stringify({ inputs: [{ name: 'input', shape: [rows, 784], datatype: 'FP32', data: Array.from(pixels) }], ...extra });
}

/** A binary-extension body: JSON header then the raw FP32 bytes. */
export function binaryInfer(pixels: Float32Array, rows: number, binaryOutput = true): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'input', shape: [rows, 784], datatype: 'FP32', parameters: { binary_data_size: pixels.byteLength } }],
    outputs: [{ name: 'logits', parameters: { binary_data: binaryOutput } }],
  }));
  return {
    body: Buffer.concat([header, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

/** Splits a binary-extension response into its JSON header and the bytes after it. */
export function parseBinaryResponse(body: Buffer, headerLength: number): { header: any; binary: Buffer } {
  return { header: JSON.parse(body.subarray(0, headerLength).toString()), binary: body.subarray(headerLength) };
}
