// A ModelInferResponse written straight to protobuf bytes from the InferenceResponse. protobufjs
// (an object built first, then fromObject and encode) took ~12 µs of the event loop per 1-row
// answer in a CPU profile of a 1,600 calls/s flood. Here: sizes first, then one buffer written once.
// Read back by protobufjs's own decoder in test/protocol/infer-response-writer.test.ts.
import { tensorBytes } from '../../tensor/tensor.js';
import { parameterChoice } from './infer-codec.js';
import { servingParameters, sharedOutputParameters, type InferenceResponse, type ParameterValue, type Parameters } from '../types.js';

const VARINT = 0, FIXED64 = 1, LENGTH = 2;
const key = (field: number, wire: number) => (field << 3) | wire;

/** Bytes of a varint of a non-negative integer (up to 2^53), or of a negative int64 (always 10). */
function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A length-delimited field's bytes: its key, its length, its content. */
const delimited = (length: number) => 1 + varintSize(length) + length;

class Writer {
  readonly buf: Buffer;
  private at = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  varint(n: number): void {
    if (n < 0) {
      // int64 two's complement: ten bytes.
      let v = BigInt.asUintN(64, BigInt(n));
      for (let i = 0; i < 9; i++, v >>= 7n) this.buf[this.at++] = Number(v & 0x7fn) | 0x80;
      this.buf[this.at++] = Number(v);
      return;
    }
    while (n >= 128) {
      this.buf[this.at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.at++] = n;
  }

  head(field: number, length: number): void {
    this.buf[this.at++] = key(field, LENGTH);
    this.varint(length);
  }

  string(field: number, s: string, length: number): void {
    this.head(field, length);
    this.at += this.buf.write(s, this.at, 'utf8');
  }

  bytes(field: number, b: Uint8Array): void {
    this.head(field, b.byteLength);
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }

  double(field: number, x: number): void {
    this.buf[this.at++] = key(field, FIXED64);
    this.at = this.buf.writeDoubleLE(x, this.at);
  }

  tag(field: number): void {
    this.buf[this.at++] = key(field, VARINT);
  }

  get written(): number {
    return this.at;
  }
}

/** InferParameter's field numbers, by the field parameterChoice picks. */
const PARAMETER_FIELD = { bool_param: 1, int64_param: 2, string_param: 3, double_param: 4 } as const;

/** An InferParameter's size: its one field, the key included. */
function parameterSize(v: ParameterValue): number {
  switch (parameterChoice(v)) {
    case 'bool_param': return 2;
    case 'string_param': return delimited(Buffer.byteLength(v as string));
    case 'int64_param': return 1 + varintSize(v as number);
    case 'double_param': return 9;
  }
}

function writeParameter(w: Writer, v: ParameterValue): void {
  const choice = parameterChoice(v);
  const field = PARAMETER_FIELD[choice];
  if (choice === 'string_param') w.string(field, v as string, Buffer.byteLength(v as string));
  else if (choice === 'double_param') w.double(field, v as number);
  else {
    w.tag(field);
    w.varint(typeof v === 'boolean' ? Number(v) : (v as number));
  }
}

/** A map<string, InferParameter>'s entries: each a message of key (1) and value (2). */
function mapSize(params: Parameters): number {
  let size = 0;
  for (const [k, v] of Object.entries(params)) size += delimited(delimited(Buffer.byteLength(k)) + delimited(parameterSize(v)));
  return size;
}

function writeMap(w: Writer, field: number, params: Parameters): void {
  for (const [k, v] of Object.entries(params)) {
    const keyLength = Buffer.byteLength(k), valueSize = parameterSize(v);
    w.head(field, delimited(keyLength) + delimited(valueSize));
    w.string(1, k, keyLength);
    w.head(2, valueSize);
    writeParameter(w, v);
  }
}

/** The response as ModelInferResponse bytes: outputs as raw_output_contents, as encodeGrpcInfer has them. */
export function writeGrpcInfer(res: InferenceResponse): Uint8Array {
  const serving = servingParameters(res.serving);
  const id = res.id ?? '';
  const outputs = res.outputs.map((t) => {
    const shared = res.sharedOutputs?.get(t.name);
    const params = shared ? sharedOutputParameters(shared) : undefined;
    const shapeSize = t.shape.reduce((s, d) => s + varintSize(d), 0);
    const nameLength = Buffer.byteLength(t.name), datatypeLength = Buffer.byteLength(t.datatype);
    const size = delimited(nameLength) + delimited(datatypeLength) + (t.shape.length ? delimited(shapeSize) : 0) + (params ? mapSize(params) : 0);
    // An output written to shared memory keeps its place with empty contents, so the others' indices hold.
    const b = shared ? new Uint8Array(0) : tensorBytes(t);
    return { t, params, shapeSize, nameLength, datatypeLength, size, raw: b };
  });
  const modelLength = Buffer.byteLength(res.model), versionLength = Buffer.byteLength(res.version), idLength = Buffer.byteLength(id);
  let total = delimited(modelLength) + delimited(versionLength) + delimited(idLength) + mapSize(serving);
  for (const o of outputs) total += delimited(o.size) + delimited(o.raw.byteLength);
  const w = new Writer(total);
  w.string(1, res.model, modelLength);
  w.string(2, res.version, versionLength);
  w.string(3, id, idLength);
  writeMap(w, 4, serving);
  for (const o of outputs) {
    w.head(5, o.size);
    w.string(1, o.t.name, o.nameLength);
    w.string(2, o.t.datatype, o.datatypeLength);
    if (o.t.shape.length) {
      w.head(3, o.shapeSize);
      for (const d of o.t.shape) w.varint(d);
    }
    if (o.params) writeMap(w, 4, o.params);
  }
  for (const o of outputs) w.bytes(6, o.raw);
  if (w.written !== total) throw new Error(`ModelInferResponse: wrote ${w.written} of ${total} bytes`);
  return w.buf;
}
