// h2load (nghttp2's C HTTP/2 load generator) sending one gRPC ModelInfer call over and over on one
// connection, as one gRPC channel does: the flood bench:abuse sends over gRPC. A Node gRPC client
// at nice 19 topped out near 1,600 calls/s (its own CPU the bottleneck) and let calls pile up past
// the tenant's concurrency. h2load sees HTTP statuses only (a gRPC error is a 200 with a
// grpc-status trailer), so the caller reads the outcomes from the server's own metrics. Over
// HTTP/1.1 (--h1) it also sends REST bodies at a fixed rate, which wrk cannot.
import { join } from 'node:path';
import { inferenceService } from '../../src/protocol/grpc/proto.js';
import { tensorBytes } from '../../src/tensor/tensor.js';
import { runMeasured } from './processes.js';
import { writeWhole } from './write-whole.js';
import type { BodyFile } from './wrk.js';

/**
 * A ModelInfer request of `rows` MNIST digits, framed as on the wire (flag, length, message), as a
 * file in `dir`; `messages` of them one after another (a ModelStreamInfer call's body).
 */
export function grpcBodyFile(dir: string, pixels: Float32Array, rows: number, model: string, version = '', messages = 1): string {
  const tensor = { name: 'input', datatype: 'FP32' as const, shape: [rows, 784], data: pixels.slice(0, rows * 784) };
  const serialize = inferenceService().service.ModelInfer.requestSerialize;
  const message = serialize({ model_name: model, model_version: version, inputs: [{ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape }], raw_input_contents: [Buffer.from(tensorBytes(tensor))] });
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1); // byte 0: not compressed
  message.copy(frame, 5);
  const path = join(dir, `grpc-${model}-${version}-${rows}-${messages}`);
  writeWhole(path, messages === 1 ? frame : Buffer.concat(Array.from({ length: messages }, () => frame)));
  return path;
}

export interface H2loadOptions {
  seconds: number;
  /** Calls in flight on the one connection (its streams); h2load sends as fast as they come back. */
  streams: number;
  /** Calls a second instead of as fast as possible (h2load --rps), at most `streams` in flight. */
  perSecond?: number;
  key?: string;
  niceness?: number;
  /** ModelInfer (the default), or ModelStreamInfer with a body of several messages. */
  method?: 'ModelInfer' | 'ModelStreamInfer';
}

export interface H2loadRun {
  /** Calls answered (every gRPC outcome, refusals included). */
  calls: number;
  /** CPU seconds h2load itself used. */
  cpuSeconds: number;
}

/** h2load's arguments for gRPC calls to `origin` (http://host:port of the gRPC server) on one connection, as one channel. */
export function grpcArgs(origin: string, body: string, opts: Omit<H2loadOptions, 'seconds' | 'niceness'>): string[] {
  const headers = ['content-type: application/grpc', 'te: trailers', ...(opts.key ? [`authorization: Bearer ${opts.key}`] : [])];
  return ['-c1', `-m${opts.streams}`, '-d', body, ...headers.flatMap((h) => ['-H', h]),
    ...(opts.perSecond ? [`--rps=${opts.perSecond}`] : []), `${origin}/inference.GRPCInferenceService/${opts.method ?? 'ModelInfer'}`];
}

/** h2load's arguments for REST infer bodies to `url` over HTTP/1.1: `connections` connections, `perSecond` requests a second in all. */
export function restArgs(url: string, body: BodyFile, opts: { connections: number; perSecond: number; key?: string }): string[] {
  const headers = [...(body.headerLength === undefined ? ['content-type: application/json'] : ['content-type: application/octet-stream', `inference-header-content-length: ${body.headerLength}`]),
    ...(opts.key ? [`authorization: Bearer ${opts.key}`] : [])];
  return ['--h1', `-c${opts.connections}`, `--rps=${opts.perSecond / opts.connections}`, '-d', body.path, ...headers.flatMap((h) => ['-H', h]), url];
}

/** Runs h2load's gRPC calls against `origin` until it has finished. */
export function runH2load(origin: string, body: string, opts: H2loadOptions): Promise<H2loadRun> {
  return runH2loadArgs([`-D${opts.seconds}`, ...grpcArgs(origin, body, opts)], opts.niceness);
}

/** Runs h2load (one thread) with `args` until it has finished: the requests it completed and its CPU. */
export async function runH2loadArgs(args: string[], niceness?: number): Promise<H2loadRun> {
  const { code, out, cpuSeconds } = await runMeasured(['h2load', '-t1', ...args], { niceness });
  const done = /requests: \d+ total, \d+ started, (\d+) done/.exec(out);
  if (code !== 0 || !done) throw new Error(`h2load exited with ${code}: ${out}`);
  return { calls: Number(done[1]), cpuSeconds };
}
