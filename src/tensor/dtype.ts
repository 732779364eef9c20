// The Open Inference Protocol's datatypes, their sizes, typed arrays and ONNX Runtime names.
export const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type Datatype = (typeof DATATYPES)[number];

export type TypedArray =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array;

/**
 * A tensor's elements: a typed array, or for BYTES one string per element. ONNX Runtime's string
 * tensors hold UTF-8 text, so BYTES elements are decoded as UTF-8 at the edge (and refused if not).
 */
export type TensorData = TypedArray | string[];

type TypedArrayCtor = { new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray; new (length: number): TypedArray; BYTES_PER_ELEMENT: number };

interface DatatypeInfo {
  /** Bytes per element; 0 for BYTES, whose elements vary in length. */
  bytes: number;
  array: TypedArrayCtor;
  /** onnxruntime-node's tensor type name. */
  ort: string;
  bigint: boolean;
}

// FP16 is held as its raw 16-bit patterns; JSON carries it as numbers (converted at the edge).
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
  // `array` is never used for BYTES (its data is string[]); Uint8Array keeps the record total.
  BYTES: { bytes: 0, array: Uint8Array, ort: 'string', bigint: false },
};

/**
 * The integers each integer datatype holds, as JS numbers: a value outside is refused, never
 * wrapped (300 stored into INT8 reads 44). The 64-bit types stop at ±(2^53 − 1): past it a number
 * read as a double is no longer the integer the client wrote (9007199254740993 reads
 * 9007199254740992). Larger 64-bit values are read from their digits, as bigints (BIGINT_RANGE):
 * JSON's flat integer arrays (integer-text.ts) and gRPC's int64_contents.
 */
export const NUMBER_RANGE: Partial<Record<Datatype, readonly [number, number]>> = {
  INT8: [-128, 127], INT16: [-32768, 32767], INT32: [-(2 ** 31), 2 ** 31 - 1],
  UINT8: [0, 255], UINT16: [0, 65535], UINT32: [0, 2 ** 32 - 1],
  INT64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], UINT64: [0, Number.MAX_SAFE_INTEGER],
};

export const BIGINT_RANGE: Partial<Record<Datatype, readonly [bigint, bigint]>> = {
  INT64: [-(2n ** 63n), 2n ** 63n - 1n], UINT64: [0n, 2n ** 64n - 1n],
};

const FROM_ORT: Record<string, Datatype> = Object.fromEntries(Object.entries(DTYPE).map(([k, v]) => [v.ort, k as Datatype]));

export function isDatatype(s: unknown): s is Datatype {
  return typeof s === 'string' && (DATATYPES as readonly string[]).includes(s);
}

export function datatypeFromOrt(type: string): Datatype | undefined {
  return FROM_ORT[type];
}
