// A model's profile report: a Markdown table and an SVG latency–accuracy plot marking the frontier.
import { paretoFrontier, type Point } from './frontier.js';

export interface VariantRow extends Point {
  how: string;
  sizeBytes: number;
  /** p50 per-sample latency at batch 1, ms. */
  latencyBatch1: number;
}

export function frontierSvg(title: string, rows: readonly VariantRow[], batch: number): string {
  const W = 640, H = 420, L = 70, R = 20, T = 40, B = 60;
  const xs = rows.map((r) => r.latency), ys = rows.map((r) => r.accuracy * 100);
  const [x0, x1] = [Math.min(...xs) * 0.8, Math.max(...xs) * 1.25];
  const [y0, y1] = [Math.floor(Math.min(...ys) - 0.5), Math.ceil(Math.max(...ys) + 0.5)];
  const lx = (v: number) => L + ((Math.log(v) - Math.log(x0)) / (Math.log(x1) - Math.log(x0))) * (W - L - R);
  const ly = (v: number) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const frontier = paretoFrontier(rows);
  const onFrontier = new Set(frontier.map((r) => r.name));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escape(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">per-sample latency at batch ${batch}, ms (log scale)</text>`,
    `<text x="18" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(T + H - B) / 2})">top-1 accuracy, %</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = Math.exp(Math.log(x0) + (i / 4) * (Math.log(x1) - Math.log(x0)));
    parts.push(`<text x="${lx(v)}" y="${H - B + 16}" text-anchor="middle" fill="#555">${v < 0.01 ? v.toFixed(4) : v.toFixed(3)}</text>`);
    const a = y0 + (i / 4) * (y1 - y0);
    parts.push(`<text x="${L - 6}" y="${ly(a) + 4}" text-anchor="end" fill="#555">${a.toFixed(1)}</text><line x1="${L}" x2="${W - R}" y1="${ly(a)}" y2="${ly(a)}" stroke="#eee"/>`);
  }
  parts.push(`<polyline fill="none" stroke="#d62728" stroke-width="2" points="${frontier.map((r) => `${lx(r.latency)},${ly(r.accuracy * 100)}`).join(' ')}"/>`);
  for (const r of rows) {
    const on = onFrontier.has(r.name);
    parts.push(`<circle cx="${lx(r.latency)}" cy="${ly(r.accuracy * 100)}" r="5" fill="${on ? '#d62728' : '#1f77b4'}"/>`);
    parts.push(`<text x="${lx(r.latency) + 8}" y="${ly(r.accuracy * 100) - 6}">${escape(r.name)}</text>`);
  }
  parts.push(`<text x="${W - R}" y="${T - 4}" text-anchor="end" fill="#d62728">● Pareto frontier</text>`, '</svg>');
  return parts.join('\n') + '\n';
}

export function reportMarkdown(model: string, dataset: string, rows: readonly VariantRow[], batch: number, reference: string, agreementWith?: string): string {
  const onFrontier = new Set(paretoFrontier(rows).map((r) => r.name));
  const ref = rows.find((r) => r.name === reference);
  const lines = [
    `# ${model}: variants and their measured profiles`,
    '',
    agreementWith
      ? `Accuracy: top-1 agreement with the ${agreementWith} variant on the ${dataset} test inputs (no labels for this task). Latency: p50 per sample, ONNX Runtime, 1 intra-op thread.`
      : `Accuracy: top-1 on the ${dataset} test split. Latency: p50 per sample, ONNX Runtime, 1 intra-op thread.`,
    '',
    `| variant | accuracy | Δ vs ${reference} | per-sample ms @ batch ${batch} | speed-up vs ${reference} | ms @ batch 1 | size | frontier | how it was made |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${(100 * r.accuracy).toFixed(2)}% | ${ref ? `${(100 * (r.accuracy - ref.accuracy)).toFixed(2)} pt` : ''} | ${r.latency.toFixed(4)} | ${ref ? `${(ref.latency / r.latency).toFixed(2)}×` : ''} | ${r.latencyBatch1.toFixed(4)} | ${(r.sizeBytes / 1024).toFixed(0)} KiB | ${onFrontier.has(r.name) ? 'yes' : ''} | ${r.how} |`),
    '',
    '![latency–accuracy frontier](frontier.svg)',
    '',
    ...slower(rows, reference),
  ];
  return lines.join('\n');
}

/** Says plainly where a variant does not pay on this machine. */
function slower(rows: readonly VariantRow[], reference: string): string[] {
  const ref = rows.find((r) => r.name === reference);
  if (!ref) return [];
  const notes = rows.filter((r) => r !== ref && r.latency >= ref.latency * 0.95)
    .map((r) => `- ${r.name} does not pay in latency on this CPU: ${r.latency.toFixed(4)} ms/sample vs ${ref.latency.toFixed(4)} for ${reference} (${(ref.latency / r.latency).toFixed(2)}×)${r.sizeBytes < ref.sizeBytes * 0.7 ? `; it is ${(ref.sizeBytes / r.sizeBytes).toFixed(1)}× smaller on disk` : ''}.`);
  return notes.length ? ['## Where a transform does not pay here', '', ...notes, ''] : [];
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}
