// A generator's input files, written whole or not at all: two floods started at once each rewrote
// the same body file, and a wrk that read it while the other truncated it sent empty bodies
// (83,471 × 400 in 10 s).
import { renameSync, writeFileSync } from 'node:fs';

export function writeWhole(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
