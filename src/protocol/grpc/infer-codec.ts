// ModelInferRequest ⇄ InferenceRequest, and InferenceResponse → ModelInferResponse. Outputs
// always travel as raw_output_contents, as Triton sends them.
import { classCount } from '../../serving/classification.js';
import { InvalidRequestError } from '../../errors.js';
import { DTYPE, isDatatype, type Datatype } from '../../tensor/dtype.js';
import { fromBytes, fromJson, tensorBytes, type Tensor } from '../../tensor/tensor.js';
import { checkShape } from '../../tensor/validate.js';
import { servingParameters, sharedOutputParameters, type InferenceRequest, type InferenceResponse, type ParameterValue, type Parameters, type SharedInput } from '../types.js';
import { sharedMemoryRef } from '../../serving/shared-memory.js';

/** 64-bit fields arrive as decimal strings on a server (proto.ts), as numbers elsewhere. */
type Long = number | string;

export interface GrpcParameter {
  parameter_choice?: string;
  bool_param?: boolean;
  int64_param?: Long;
  string_param?: string;
  double_param?: number;
  uint64_param?: Long;
}

interface GrpcInput {
  name: string;
  datatype: string;
  shape: Long[];
  parameters?: Record<string, GrpcParameter>;
  contents?: Record<string, unknown[]> | null;
}

export interface GrpcInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: Record<string, GrpcParameter>;
  inputs: GrpcInput[];
  outputs: Array<{ name: string; parameters?: Record<string, GrpcParameter> }>;
  raw_input_contents: Buffer[];
}

const CONTENTS_FIELD: Record<Datatype, string | undefined> = {
  BOOL: 'bool_contents', INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents',
  FP32: 'fp32_contents', FP64: 'fp64_contents', FP16: undefined, BYTES: 'bytes_contents',
};

export function decodeParameters(params: Record<string, GrpcParameter> | undefined): Parameters {
  const out: Parameters = {};
  for (const [k, p] of Object.entries(params ?? {})) {
    const choice = p.parameter_choice as keyof GrpcParameter | undefined;
    const v = choice ? p[choice] : undefined;
    if (choice === 'int64_param' || choice === 'uint64_param') out[k] = Number(v);
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

/**
 * The InferParameter field that carries a value: an integer goes as int64 where a double holds it
 * exactly, any other number as double (protobufjs would clamp 1e300 to int64's largest).
 */
export function parameterChoice(v: ParameterValue): 'bool_param' | 'string_param' | 'int64_param' | 'double_param' {
  if (typeof v === 'boolean') return 'bool_param';
  if (typeof v === 'string') return 'string_param';
  return Number.isSafeInteger(v) ? 'int64_param' : 'double_param';
}

export function encodeParameters(params: Parameters): Record<string, GrpcParameter> {
  const out: Record<string, GrpcParameter> = {};
  for (const [k, v] of Object.entries(params)) out[k] = { [parameterChoice(v)]: v };
  return out;
}

export function decodeGrpcInfer(msg: GrpcInferRequest): InferenceRequest {
  if (!msg.model_name) throw new InvalidRequestError('model_name is required');
  if (msg.inputs.length === 0) throw new InvalidRequestError('at least one input is required');
  const raw = msg.raw_input_contents;
  // Inputs in shared memory have no contents: raw_input_contents holds the others', in order, as Triton reads them.
  const refs = msg.inputs.map((input) => sharedMemoryRef(`input '${input.name}'`, decodeParameters(input.parameters)));
  const carried = refs.filter((r) => !r).length;
  if (raw.length > 0 && raw.length !== carried) {
    throw new InvalidRequestError(`raw_input_contents has ${raw.length} entries for ${carried} inputs not in shared memory; give raw contents for every one of them or for none`);
  }
  const inputs: Tensor[] = [];
  const sharedInputs: SharedInput[] = [];
  let next = 0;
  msg.inputs.forEach((input, i) => {
    if (!isDatatype(input.datatype)) throw new InvalidRequestError(`input '${input.name}': unknown or unsupported datatype '${input.datatype}'`);
    const shape = checkShape(input.name, input.shape.map(Number));
    const ref = refs[i];
    if (ref) {
      if (Object.values(input.contents ?? {}).some((v) => v.length > 0)) throw new InvalidRequestError(`input '${input.name}' is in shared memory and must not also have contents`);
      sharedInputs.push({ name: input.name, datatype: input.datatype, shape, ref });
      return;
    }
    if (raw.length > 0) {
      inputs.push(fromBytes(input.name, input.datatype, shape, raw[next++]));
      return;
    }
    const field = CONTENTS_FIELD[input.datatype];
    if (!field) throw new InvalidRequestError(`input '${input.name}': ${input.datatype} must be sent in raw_input_contents`);
    const contents = input.contents?.[field] ?? [];
    // 64-bit contents exactly, as bigints (fromJson checks their range).
    inputs.push(fromJson(input.name, input.datatype, shape, DTYPE[input.datatype].bigint ? contents.map((v) => BigInt(v as Long)) : contents));
  });
  return {
    model: msg.model_name,
    version: msg.model_version || undefined,
    id: msg.id || undefined,
    inputs,
    ...(sharedInputs.length ? { sharedInputs } : {}),
    outputs: msg.outputs.length ? msg.outputs.map((o) => {
      const params = decodeParameters(o.parameters);
      return { name: o.name, classCount: classCount(o.name, params.classification), sharedMemory: sharedMemoryRef(`output '${o.name}'`, params) };
    }) : undefined,
    parameters: decodeParameters(msg.parameters),
  };
}

export function encodeGrpcInfer(res: InferenceResponse) {
  return {
    model_name: res.model,
    model_version: res.version,
    id: res.id ?? '',
    parameters: encodeParameters(servingParameters(res.serving)),
    outputs: res.outputs.map((t) => {
      const shared = res.sharedOutputs?.get(t.name);
      return { name: t.name, datatype: t.datatype, shape: t.shape, ...(shared ? { parameters: encodeParameters(sharedOutputParameters(shared)) } : {}) };
    }),
    // An output written to shared memory keeps its place with empty contents, so the others' indices hold.
    raw_output_contents: res.outputs.map((t) => {
      if (res.sharedOutputs?.has(t.name)) return Buffer.alloc(0);
      const b = tensorBytes(t);
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    }),
  };
}

/**
 * Walks a protobuf message's top-level fields without decoding them: `visit` gets each field's
 * number, wire type and, for a length-delimited one, where its content starts and its length
 * (which may run past `bytes` when they are the message's first part). 'malformed' where the bytes
 * cannot be a message; 'cut' where they end inside a field's key, length or fixed-size value.
 * `visit` returns true to stop.
 */
function walkFields(bytes: Uint8Array, visit: (field: number, wire: number, start: number, length: number) => boolean | void): 'done' | 'stopped' | 'cut' | 'malformed' {
  let at = 0;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= bytes.length) return undefined;
      const b = bytes[at++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    return -1; // past 2^35: no tag or length in a message under the size limit
  };
  while (at < bytes.length) {
    const tag = varint();
    if (tag === undefined) return 'cut';
    if (tag < 0 || tag > 0xffffffff) return 'malformed';
    const field = Math.floor(tag / 8), wire = tag & 7;
    let start = at, length = 0;
    if (wire === 0) {
      while (at < bytes.length && bytes[at] >= 0x80) at++;
      if (at++ >= bytes.length) return 'cut';
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
      if (at > bytes.length) return 'cut';
    } else if (wire === 2) {
      const n = varint();
      if (n === undefined) return 'cut';
      if (n < 0) return 'malformed';
      start = at;
      length = n;
      at += n;
    } else return 'malformed'; // groups (3, 4) have no place in these messages
    if (visit(field, wire, start, length)) return 'stopped';
  }
  return at === bytes.length ? 'done' : 'cut';
}

/**
 * The model_name (field 1) of a serialized ModelInferRequest, read without decoding the rest: the
 * door orders a call by its tenant's SLO on that model before the message is decoded. The last
 * occurrence wins, as in a full decode; undefined where the message is not well formed (its full
 * decode then says why). A model_name of another wire type is not well formed either: protobufjs
 * would read it as a string all the same (fast-check found [13, 3, 0, 0, 0]: '\0\0\0'), where
 * other decoders skip it.
 */
export function peekModelName(message: Uint8Array): string | undefined {
  let name: string | undefined = '';
  const walked = walkFields(message, (field, wire, start, length) => {
    if (field !== 1) return;
    name = wire === 2 && start + length <= message.length ? Buffer.from(message.buffer, message.byteOffset + start, length).toString('utf8') : undefined;
    return name === undefined;
  });
  return walked === 'done' ? name : undefined;
}

/**
 * Where the first raw_input_contents (field 7) starts in a ModelInferRequest of which `head` is the
 * first part; undefined where that part does not reach it. A message gathered from several frames
 * is placed so that this falls on an 8-byte boundary: its tensor is then a view, not a copy.
 */
export function rawContentsAt(head: Uint8Array): number | undefined {
  let found: number | undefined;
  walkFields(head, (field, wire, start) => {
    if (field === 7 && wire === 2) found = start;
    return found !== undefined;
  });
  return found;
}

/** Bytes to place before a message of which `head` is the first part, so that its first raw contents fall on an 8-byte boundary. */
export function rawContentsPad(head: Uint8Array): number {
  const at = rawContentsAt(head);
  return at === undefined ? 0 : (8 - (at % 8)) % 8;
}
