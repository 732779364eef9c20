// A one-line progress bar on stderr for long steps (training, fine-tuning, distillation).
export function progressBar(label: string, done: number, total: number): void {
  if (!process.stderr.isTTY && done !== 0 && done + 50 < total) return;
  const width = 30;
  const filled = Math.round((width * done) / Math.max(1, total));
  process.stderr.write(`\r  ${label.padEnd(18)} [${'#'.repeat(filled).padEnd(width, '.')}] ${Math.round((100 * done) / Math.max(1, total))}%`);
}
