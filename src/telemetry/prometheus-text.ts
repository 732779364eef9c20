// Reads samples back out of Prometheus text (what GET /metrics serves): for `pareto cluster up`,
// which scales on the gateways' own metric, and for benches that watch a server from outside.

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Every sample of the metric `name` (exactly that name: `_sum`, `_count` are names of their own). */
export function metricSamples(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

/** The value of the sample of `name` whose labels include `labels` (NaN when there is none). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const s = metricSamples(text, name).find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? s.value : NaN;
}
