// The one internal request and response type every front end (REST JSON, REST binary, gRPC)
// decodes into and encodes from.
import type { DoorPass, Tenant } from '../tenancy/tenants.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Datatype } from '../tensor/dtype.js';
import type { SharedMemoryRef } from '../serving/shared-memory.js';

export type ParameterValue = string | number | boolean;
export type Parameters = Record<string, ParameterValue>;

export interface RequestedOutput {
  name: string;
  /** REST binary extension: return this output as binary data. */
  binary?: boolean;
  /** Classification extension: the top this many classes per row, as "score:index" strings. */
  classCount?: number;
  /** System shared-memory extension: written into this region instead of sent. */
  sharedMemory?: SharedMemoryRef;
}

/** An input whose bytes lie in a registered shared-memory region, read by the service. */
export interface SharedInput {
  name: string;
  datatype: Datatype;
  shape: number[];
  ref: SharedMemoryRef;
}

export interface InferenceRequest {
  model: string;
  /** The caller's credential as sent (Authorization header or gRPC metadata). */
  authorization?: string;
  /** Set when the front end has already identified the caller and checked its access. */
  caller?: { tenant: Tenant | undefined; /** Counts it against its tenant's limits from its headers on. */ pass?: DoorPass };
  /** A variant name; absent lets the server choose. */
  version?: string;
  id?: string;
  inputs: Tensor[];
  /** Inputs sent as shared-memory regions; they join `inputs` once read. */
  sharedInputs?: SharedInput[];
  /** Absent: every output of the model. */
  outputs?: RequestedOutput[];
  parameters: Parameters;
}

export interface ServingInfo {
  variant: string;
  /** The served variant's measured accuracy, when it has a profile. */
  accuracy?: number;
  batchSize: number;
  queueMs: number;
  computeMs: number;
  /** The request's latency budget, ms (Infinity when it has none); not sent to clients. */
  budgetMs?: number;
}

export interface InferenceResponse {
  model: string;
  version: string;
  id?: string;
  outputs: Tensor[];
  /** Outputs written into shared memory (their data is not sent), with the bytes written. */
  sharedOutputs?: ReadonlyMap<string, SharedMemoryRef>;
  serving: ServingInfo;
}

/** The request's batch rows as its first input says (for telemetry before validation). */
export function requestRows(req: InferenceRequest): number {
  return (req.inputs[0] ?? req.sharedInputs?.[0])?.shape[0] ?? 0;
}

/** A response output's parameters when it was written to shared memory: where, and how many bytes. */
export function sharedOutputParameters(ref: SharedMemoryRef): Parameters {
  return { shared_memory_region: ref.region, shared_memory_byte_size: ref.byteSize, ...(ref.offset ? { shared_memory_offset: ref.offset } : {}) };
}

export function servingParameters(s: ServingInfo): Parameters {
  return {
    variant: s.variant,
    // An unprofiled variant's answer says so rather than leaving the reader to assume one.
    ...(s.accuracy !== undefined ? { accuracy: s.accuracy } : { accuracy_measured: false }),
    batch_size: s.batchSize,
    queue_ms: round3(s.queueMs),
    compute_ms: round3(s.computeMs),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
