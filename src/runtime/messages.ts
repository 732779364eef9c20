// Messages between the main thread and executor worker threads. Tensor data crosses as
// transferable ArrayBuffers, never as JSON.
import type { Datatype, TensorData } from '../tensor/dtype.js';

export interface SessionOptions {
  intraOpThreads: number;
  executionProvider: string;
  /** Spinning burns a core while idle; off where sessions share cores. */
  allowSpinning: boolean;
}

export interface WireTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** BYTES as string[] (structured-cloned, never transferred). */
  data: TensorData;
}

export interface SessionSignature {
  inputs: Array<{ name: string; datatype?: Datatype; shape?: Array<number | string> }>;
  outputs: Array<{ name: string; datatype?: Datatype; shape?: Array<number | string> }>;
}

export type WorkerCall =
  | { op: 'load'; key: string; path: string; options: SessionOptions }
  | { op: 'warmup'; key: string; inputs: WireTensor[] }
  | { op: 'unload'; key: string }
  | { op: 'run'; key: string; inputs: WireTensor[] };

export type ToWorker = WorkerCall & { id: number };

export type FromWorker =
  | { op: 'loaded'; id: number; signature: SessionSignature }
  | { op: 'unloaded'; id: number }
  | { op: 'warm'; id: number }
  /**
   * `inputBuffers`: the batch's input buffers, sent back for reuse (buffer-pool.ts); `startedAt`,
   * `repliedAt`: when the executor took the batch and sent this (crossThreadMs).
   */
  | { op: 'result'; id: number; outputs: WireTensor[]; computeMs: number; inputBuffers: ArrayBuffer[]; startedAt: number; repliedAt: number }
  | { op: 'error'; id: number; message: string };
