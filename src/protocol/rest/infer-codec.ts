// REST infer bodies: the JSON form and the binary tensor data extension (a JSON header of
// `Inference-Header-Content-Length` bytes, then each binary tensor's bytes in order).
import { classCount } from '../../serving/classification.js';
import { InvalidRequestError, PayloadTooLargeError } from '../../errors.js';
import { BIGINT_RANGE, DTYPE, isDatatype, type Datatype } from '../../tensor/dtype.js';
import { ExactJson } from '../../tensor/exact-json.js';
import { elementCount, fromBytes, fromJson, InexactIntegerError, isFloat, MAX_JSON_DEPTH, tensorBytes, ValueOutOfRangeError, type Tensor } from '../../tensor/tensor.js';
import { parseNonFiniteArray } from '../../tensor/non-finite-json.js';
import { readIntegerArray } from '../../tensor/integer-text.js';
import { readFloat32Array } from '../../tensor/float32-text.js';
import { toHalfBits } from '../../tensor/fp16.js';
import { liftedArray, liftTensorData, LIFT_MIN_BYTES, type LiftedArray, type LiftedBody } from './lifted-tensor-data.js';
import { checkShape } from '../../tensor/validate.js';
import { servingParameters, sharedOutputParameters, type InferenceRequest, type InferenceResponse, type Parameters, type SharedInput } from '../types.js';
import { sharedMemoryRef } from '../../serving/shared-memory.js';

type ParameterValue = string | number | boolean;

interface RawInput {
  name: string;
  shape: unknown;
  datatype: string;
  parameters?: Record<string, ParameterValue>;
  data?: unknown;
}

interface RawRequest {
  id?: string;
  parameters?: Record<string, ParameterValue>;
  inputs: RawInput[];
  outputs?: Array<{ name: string; parameters?: Record<string, ParameterValue> }>;
}

// Checked by hand, not with zod: this runs on every request, and zod's parse was 4.4% of the
// event loop's CPU profile and ~3.4 of the ~28 KiB of garbage per request under bench:serve's
// load; a decode went from 4.65 to 3.1 µs in a microbench. Unknown fields are allowed, as the
// protocol's extensions add them.
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (path: string, message: string): never => { throw new InvalidRequestError(`invalid inference request: ${path}: ${message}`); };

function checkParameters(v: unknown, path: string): Record<string, ParameterValue> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) return fail(path, 'expected an object of parameters');
  for (const k in v) {
    const t = typeof v[k];
    if (t !== 'string' && t !== 'number' && t !== 'boolean') fail(`${path}.${k}`, 'expected a string, number or boolean');
  }
  return v as Record<string, ParameterValue>;
}

function checkName(v: unknown, path: string): string {
  if (typeof v !== 'string') return fail(path, 'expected a string');
  if (v.length === 0) fail(path, 'must not be empty');
  return v;
}

function checkRequest(raw: unknown): RawRequest {
  if (!isObject(raw)) return fail('(root)', 'expected an object');
  if (raw.id !== undefined && typeof raw.id !== 'string') fail('id', 'expected a string');
  const parameters = checkParameters(raw.parameters, 'parameters');
  if (!Array.isArray(raw.inputs)) return fail('inputs', 'expected an array');
  if (raw.inputs.length === 0) fail('inputs', 'at least one input is required');
  const inputs = raw.inputs.map((input: unknown, i): RawInput => {
    const path = `inputs.${i}`;
    if (!isObject(input)) return fail(path, 'expected an object');
    if (typeof input.datatype !== 'string') fail(`${path}.datatype`, 'expected a string');
    return { name: checkName(input.name, `${path}.name`), shape: input.shape, datatype: input.datatype as string, parameters: checkParameters(input.parameters, `${path}.parameters`), data: input.data };
  });
  let outputs: RawRequest['outputs'];
  if (raw.outputs !== undefined) {
    if (!Array.isArray(raw.outputs)) return fail('outputs', 'expected an array');
    outputs = raw.outputs.map((output: unknown, i) => {
      const path = `outputs.${i}`;
      if (!isObject(output)) return fail(path, 'expected an object');
      return { name: checkName(output.name, `${path}.name`), parameters: checkParameters(output.parameters, `${path}.parameters`) };
    });
  }
  return { id: raw.id as string | undefined, parameters, inputs, outputs };
}

export const BINARY_HEADER = 'inference-header-content-length';

/**
 * JSON above this size is scanned for its nesting depth before it is parsed (smaller JSON cannot
 * stall the loop, and the walk over its tensors stops at MAX_JSON_DEPTH anyway).
 */
export const DEPTH_SCAN_BYTES = 64 * 1024;

/** What ends a run of numbers: `"`, `[`, `{`, `]`, `}`. */
const STRUCTURAL = [0x22, 0x5b, 0x7b, 0x5d, 0x7d];

/** Where the run of numbers at `i` ends: the next structural byte, or `end`. */
function endOfNumbers(bytes: Buffer, i: number, end: number, next: number[]): number {
  let at = end;
  for (let k = 0; k < STRUCTURAL.length; k++) {
    if (next[k] < i) {
      const p = bytes.indexOf(STRUCTURAL[k], i);
      next[k] = p < 0 || p >= end ? end : p;
    }
    at = Math.min(at, next[k]);
  }
  return at;
}

/**
 * The nesting depth of JSON text fed in pieces as it arrives (strings skipped), to refuse a body
 * that nests too deep at its first level too many: a hostile body of nothing but `[` is answered
 * after its first chunk, before the rest is buffered or JSON.parse spends seconds of the event
 * loop on it (8 MB of `[` stalled the server 2.5 s). It runs on the event loop, so a run of
 * numbers is jumped over with Buffer.indexOf (memchr) rather than read byte by byte: 32 flat rows
 * of MNIST took 0.28 ms byte by byte, as long as decoding them, and now take 0.008 ms.
 */
export class JsonDepthScan {
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly limit: number) {}

  /** Feeds bytes [start, end) of `bytes`; true once the text nests deeper than the limit. */
  feed(bytes: Buffer, start = 0, end = bytes.length): boolean {
    let { depth, inString, escaped } = this;
    // Where each structural byte next occurs at or after i (end: not before end), found again
    // only once passed: one pass of memchr per structural byte over the whole feed.
    const next = [-1, -1, -1, -1, -1];
    let deep = false;
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) {
        inString = true;
      } else if (c === 0x5b || c === 0x7b) {
        if (++depth > this.limit) { deep = true; break; }
      } else if (c === 0x5d || c === 0x7d) {
        depth--;
      } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
        i = endOfNumbers(bytes, i, end, next) - 1;
      }
    }
    Object.assign(this, { depth, inString, escaped });
    return deep;
  }
}

export function nestsDeeperThan(bytes: Buffer, end: number, limit: number): boolean {
  return new JsonDepthScan(limit).feed(bytes, 0, end);
}

export class JsonTooDeepError extends InvalidRequestError {
  constructor() {
    super(`the request's JSON nests deeper than ${MAX_JSON_DEPTH} levels`, 'PARETO_ERR_JSON_TOO_DEEP');
  }
}

/** Decodes an infer body; `headerLength` is the binary extension's JSON header length, if any. */
/** `depthScanned`: the front end already scanned the JSON's depth as it arrived. */
export function decodeInferBody(model: string, version: string | undefined, body: Buffer, headerLength: number | undefined, maxJsonBytes = Infinity, depthScanned = false): InferenceRequest {
  if (headerLength !== undefined && (headerLength > body.length || headerLength < 0)) {
    throw new InvalidRequestError(`Inference-Header-Content-Length is ${headerLength} but the body has only ${body.length} bytes`);
  }
  const jsonEnd = headerLength ?? body.length;
  if (jsonEnd > maxJsonBytes) {
    throw new PayloadTooLargeError(jsonEnd, maxJsonBytes, 'JSON', '--max-json-bytes; large tensors travel as binary data');
  }
  if (!depthScanned && jsonEnd > DEPTH_SCAN_BYTES && nestsDeeperThan(body, jsonEnd, MAX_JSON_DEPTH)) throw new JsonTooDeepError();
  const lifted = (): InferenceRequest | undefined => {
    const l = liftTensorData(body, jsonEnd);
    if (!l) return undefined;
    // Any doubt (a parse error, an input it cannot read, an array not used) and the whole body is parsed as before.
    try {
      const req = decodeParsedBody(model, version, body, headerLength, JSON.parse(l.json), l);
      if (l.arrays.every((a) => a.taken)) return req;
    } catch (e) {
      if (e instanceof ValueOutOfRangeError) throw e; // the client's own value: refused whichever way it is read
    }
    return undefined;
  };
  const fast = jsonEnd >= LIFT_MIN_BYTES ? lifted() : undefined;
  if (fast) return fast;
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8', 0, jsonEnd));
  } catch (e) {
    // Not JSON, unless a small body's tensor data holds NaN or ±Infinity (read from its lifted arrays).
    const tokens = jsonEnd < LIFT_MIN_BYTES ? lifted() : undefined;
    if (tokens) return tokens;
    throw new InvalidRequestError(`request body is not valid JSON: ${(e as Error).message}`, 'PARETO_ERR_MALFORMED_JSON');
  }
  try {
    return decodeParsedBody(model, version, body, headerLength, raw);
  } catch (e) {
    // A small body with a 64-bit integer past 2^53: read from its digits, where it is plain digits in a flat array.
    const exact = e instanceof InexactIntegerError && jsonEnd < LIFT_MIN_BYTES ? lifted() : undefined;
    if (exact) return exact;
    throw e;
  }
}

class NotLiftable extends Error {}

export function decodeParsedBody(model: string, version: string | undefined, body: Buffer, headerLength: number | undefined, raw: unknown, lifted?: LiftedBody): InferenceRequest {
  const req = checkRequest(raw);
  let offset = headerLength ?? body.length;
  const inputs: Tensor[] = [];
  const sharedInputs: SharedInput[] = [];
  for (const input of req.inputs) {
    if (!isDatatype(input.datatype)) throw new InvalidRequestError(`input '${input.name}': unknown or unsupported datatype '${input.datatype}'`);
    const shape = checkShape(input.name, input.shape);
    const ref = sharedMemoryRef(`input '${input.name}'`, input.parameters);
    if (ref) {
      if (input.data !== undefined || input.parameters?.binary_data_size !== undefined) throw new InvalidRequestError(`input '${input.name}' is in shared memory and must not also have data or binary_data_size`);
      sharedInputs.push({ name: input.name, datatype: input.datatype, shape, ref });
      continue;
    }
    inputs.push(decodeInput(input, input.datatype, shape));
  }
  if (offset !== body.length) throw new InvalidRequestError(`${body.length - offset} bytes of binary data follow the inputs that no binary_data_size accounts for`);

  function decodeInput(input: RawInput, datatype: Datatype, shape: number[]): Tensor {
    const size = input.parameters?.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw new InvalidRequestError(`input '${input.name}': binary_data_size must be a non-negative integer`);
      if (headerLength === undefined) throw new InvalidRequestError(`input '${input.name}' has binary_data_size but the request has no Inference-Header-Content-Length header`);
      if (offset + size > body.length) throw new InvalidRequestError(`input '${input.name}': binary_data_size ${size} runs past the end of the body`);
      const bytes = body.subarray(offset, offset + size);
      offset += size;
      return fromBytes(input.name, datatype, shape, bytes);
    }
    if (input.data === undefined) throw new InvalidRequestError(`input '${input.name}' has neither 'data' nor a binary_data_size parameter`);
    const array = lifted && liftedArray(lifted, input.data);
    if (array) return readLifted(input.name, datatype, shape, array);
    return fromJson(input.name, datatype, shape, input.data);
  }

  function readLifted(name: string, datatype: Datatype, shape: number[], array: LiftedArray): Tensor {
    if (array.taken) throw new NotLiftable();
    array.taken = true;
    if (DTYPE[datatype].bigint) {
      const [lo, hi] = BIGINT_RANGE[datatype]!;
      const ints = new DTYPE[datatype].array(elementCount(shape)) as BigInt64Array;
      const read = readIntegerArray(body, array.start, array.end, ints, lo, hi);
      if (read === true) return { name, datatype, shape, data: ints };
      if (read) throw new ValueOutOfRangeError(name, datatype, read.index, read.text, lo, hi);
    }
    if (datatype === 'FP32' || datatype === 'FP16') {
      const floats = new Float32Array(elementCount(shape));
      // toHalfBits rounds through a float first, so from the float read here it gives the same bits.
      if (readFloat32Array(body, array.start, array.end, floats)) return { name, datatype, shape, data: datatype === 'FP32' ? floats : Uint16Array.from(floats, toHalfBits) };
    }
    // Any other datatype (token ids), or data the float reader refuses: the array's own text. It
    // parses only if its first `]` is the one that closes it, so it is the value the body holds,
    // and the body is not parsed a second time (a 512-id INT64 input: 31 µs when it was, now 25,
    // parsed whole 22).
    const text = body.toString('utf8', array.start, array.end);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      // Floats may be NaN or ±Infinity, as Triton reads them.
      data = isFloat(datatype) ? parseNonFiniteArray(text) : undefined;
      if (!data) throw new NotLiftable();
    }
    return fromJson(name, datatype, shape, data);
  }

  const binaryDefault = req.parameters?.binary_data_output === true;
  const outputs = req.outputs?.map((o) => ({
    name: o.name,
    binary: o.parameters?.binary_data === undefined ? binaryDefault : o.parameters.binary_data === true,
    classCount: classCount(o.name, o.parameters?.classification),
    sharedMemory: sharedMemoryRef(`output '${o.name}'`, o.parameters),
  }));
  const parameters: Parameters = { ...req.parameters };
  if (binaryDefault && !outputs) parameters.binary_data_output = true;
  return { model, version, id: req.id, inputs, ...(sharedInputs.length ? { sharedInputs } : {}), outputs, parameters };
}

export interface EncodedResponse {
  body: string | Buffer;
  /** Set when the body carries binary tensors after the JSON header. */
  headerLength?: number;
}

export function encodeInferResponse(req: InferenceRequest, res: InferenceResponse): EncodedResponse {
  const binaryDefault = req.parameters.binary_data_output === true;
  const chunks: Uint8Array[] = [];
  const exact = new ExactJson();
  const outputs = res.outputs.map((t) => {
    const shared = res.sharedOutputs?.get(t.name);
    if (shared) return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: sharedOutputParameters(shared) };
    const binary = req.outputs?.find((o) => o.name === t.name)?.binary ?? binaryDefault;
    if (!binary) return { name: t.name, datatype: t.datatype, shape: t.shape, data: exact.data(t) };
    const bytes = tensorBytes(t);
    chunks.push(bytes);
    return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: bytes.byteLength } };
  });
  const json = exact.stringify({
    model_name: res.model,
    model_version: res.version,
    ...(res.id !== undefined ? { id: res.id } : {}),
    parameters: servingParameters(res.serving),
    outputs,
  });
  if (chunks.length === 0) return { body: json };
  const header = Buffer.from(json, 'utf8');
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length };
}
