// wrk (a C HTTP load generator, far cheaper per request than a Node client) sending one infer body
// over and over, closed loop: the body files it sends and a run of it, with its own CPU cost.
import { join } from 'node:path';
import { tensorBytes } from '../../src/tensor/tensor.js';
import { runMeasured } from './processes.js';
import { writeWhole } from './write-whole.js';

export interface BodyFile {
  path: string;
  /** Inference-Header-Content-Length, for a body in the binary extension. */
  headerLength?: number;
}

/** An infer body of `rows` MNIST digits as a file in `dir`: JSON, or the binary extension (JSON header, then the tensor). */
export function bodyFile(dir: string, pixels: Float32Array, rows: number, json: boolean): BodyFile {
  const tensor = { name: 'input', datatype: 'FP32' as const, shape: [rows, 784], data: pixels.slice(0, rows * 784) };
  const path = join(dir, `body-${rows}-${json ? 'json' : 'binary'}`);
  if (json) {
    writeWhole(path, JSON.stringify({ inputs: [{ ...tensor, data: Array.from(tensor.data) }] }));
    return { path };
  }
  const raw = tensorBytes(tensor);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: tensor.shape, parameters: { binary_data_size: raw.byteLength } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] }));
  writeWhole(path, Buffer.concat([header, raw]));
  return { path, headerLength: header.length };
}

const WRK_SCRIPT = `
local f = io.open(os.getenv("BODY"), "rb"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
local key = os.getenv("KEY")
if key ~= nil and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
local hl = os.getenv("HEADER_LENGTH")
if hl ~= nil and hl ~= "" then
  wrk.headers["Content-Type"] = "application/octet-stream"; wrk.headers["Inference-Header-Content-Length"] = hl
else
  wrk.headers["Content-Type"] = "application/json"
end
`;

export interface WrkRun {
  requests: number;
  perSecond: number;
  non2xx: number;
  /** Mean latency, ms, as wrk reports it. */
  meanMs: number;
  /** CPU seconds wrk itself used. */
  cpuSeconds: number;
}

export interface WrkOptions {
  seconds: number;
  connections: number;
  key?: string;
  /** Run wrk at this CPU priority (nice), e.g. 19 for a noisy neighbour that is not the instrument. */
  niceness?: number;
}

/** Runs wrk against `url` until it has finished (`dir`: where its script goes). */
export async function runWrk(dir: string, url: string, body: BodyFile, opts: WrkOptions): Promise<WrkRun> {
  const script = join(dir, 'wrk-body.lua');
  writeWhole(script, WRK_SCRIPT);
  const { code, out, cpuSeconds } = await runMeasured(['wrk', '-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '-s', script, url], {
    niceness: opts.niceness,
    env: { ...process.env, BODY: body.path, KEY: opts.key ?? '', HEADER_LENGTH: body.headerLength === undefined ? '' : String(body.headerLength) },
  });
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${out}`);
  const latency = /Latency\s+([\d.]+)(us|ms|s)/.exec(out);
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    perSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    meanMs: latency ? Number(latency[1]) * { us: 1e-3, ms: 1, s: 1000 }[latency[2] as 'us' | 'ms' | 's'] : NaN,
    cpuSeconds,
  };
}
