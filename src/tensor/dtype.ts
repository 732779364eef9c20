// The Open Inference Protocol's datatypes, their sizes, typed arrays and ONNX Runtime names.
export const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64'] as const;
export type Datatype = (typeof DATATYPES)[number];

export type TypedArray =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array;

type TypedArrayCtor = { new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray; new (length: number): TypedArray; BYTES_PER_ELEMENT: number };

interface DatatypeInfo {
  bytes: number;
  array: TypedArrayCtor;
  /** onnxruntime-node's tensor type name. */
  ort: string;
  bigint: boolean;
}

// FP16 travels as its raw 16-bit patterns (binary or gRPC raw contents): JSON has no fp16 type.
export const DTYPE: Record<Datatype, DatatypeInfo> = {
  BOOL: { bytes: 1, array: Uint8Array, ort: 'bool', bigint: false },
  UINT8: { bytes: 1, array: Uint8Array, ort: 'uint8', bigint: false },
  UINT16: { bytes: 2, array: Uint16Array, ort: 'uint16', bigint: false },
  UINT32: { bytes: 4, array: Uint32Array, ort: 'uint32', bigint: false },
  UINT64: { bytes: 8, array: BigUint64Array as unknown as TypedArrayCtor, ort: 'uint64', bigint: true },
  INT8: { bytes: 1, array: Int8Array, ort: 'int8', bigint: false },
  INT16: { bytes: 2, array: Int16Array, ort: 'int16', bigint: false },
  INT32: { bytes: 4, array: Int32Array, ort: 'int32', bigint: false },
  INT64: { bytes: 8, array: BigInt64Array as unknown as TypedArrayCtor, ort: 'int64', bigint: true },
  FP16: { bytes: 2, array: Uint16Array, ort: 'float16', bigint: false },
  FP32: { bytes: 4, array: Float32Array, ort: 'float32', bigint: false },
  FP64: { bytes: 8, array: Float64Array, ort: 'float64', bigint: false },
};

const FROM_ORT: Record<string, Datatype> = Object.fromEntries(Object.entries(DTYPE).map(([k, v]) => [v.ort, k as Datatype]));

export function isDatatype(s: unknown): s is Datatype {
  return typeof s === 'string' && (DATATYPES as readonly string[]).includes(s);
}

export function datatypeFromOrt(type: string): Datatype | undefined {
  return FROM_ORT[type];
}
