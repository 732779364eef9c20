// The latency–accuracy Pareto frontier of a model's variants.
export interface Point {
  name: string;
  /** Per-sample latency, ms (lower is better). */
  latency: number;
  /** Accuracy in [0, 1] (higher is better). */
  accuracy: number;
}

/** Points no other point beats on both axes (ties on both count as not dominated), fastest first. */
export function paretoFrontier<T extends Point>(points: readonly T[]): T[] {
  return points
    .filter((p) => !points.some((q) => q !== p && q.latency <= p.latency && q.accuracy >= p.accuracy && (q.latency < p.latency || q.accuracy > p.accuracy)))
    .sort((a, b) => a.latency - b.latency);
}
