// What the dispatcher runs batches on: the executor threads of this process, or (on a gateway) the
// workers of a cluster. Both offer slots per model and run one batch on one slot.
import type { ExecutorPool, RunResult } from '../runtime/executor-pool.js';
import type { Tensor } from '../tensor/tensor.js';
import type { LoadedVariant } from './model-host.js';

export interface RunTarget {
  model: string;
  variant: LoadedVariant;
  /** The earliest deadline in the batch (performance.now() ms): a retry after it is pointless. */
  deadline: number;
  /** The planner's predicted time for the batch (routing weighs workers by it). */
  predictedMs: number;
}

export interface Executors {
  /** Executors that run this model's batches in parallel (the planner's utilisation divisor). */
  count(model: string): number;
  /**
   * A slot that can take one of this model's batches now (`idle`: nothing in flight on it);
   * `waitedMs`, how long the oldest of its queued requests has waited, may open a slower one.
   */
  available(model: string, waitedMs: number): { index: number; idle: boolean } | undefined;
  run(index: number, target: RunTarget, inputs: Tensor[]): Promise<RunResult>;
  /**
   * Where executors differ in the variants they hold (a gateway's workers): whether one that is up
   * serves this variant, and a number that changes whenever that may have changed. Absent: every
   * executor holds every variant.
   */
  variants?: { version(): number; serves(model: string, variant: string): boolean };
}

/** The executor threads of this process: every thread holds every variant. */
export function localExecutors(pool: ExecutorPool): Executors {
  return {
    count: () => pool.size,
    available: () => pool.available(),
    run: (index, target, inputs) => pool.run(index, target.variant.sessionKey, inputs),
  };
}
