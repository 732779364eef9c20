// Opt-in capture of live requests into the sample format (docs/data-format.md), so a user can
// calibrate and profile on real traffic: a sampled fraction of one model's requests, each a line
// of captured.jsonl whose tensors sit in captured.bin (raw bytes: no float ever goes through
// JSON on the serving path), bounded in samples and in bytes. Inputs only: no tenant, key or id.
import { createWriteStream, existsSync, statSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { tensorBytes, type Tensor } from '../tensor/tensor.js';

export interface CaptureOptions {
  dir: string;
  /** Share of requests captured, in (0, 1]. */
  fraction: number;
  /** Requests captured by this process at the most. */
  maxSamples: number;
  /** captured.bin stops growing past this size, whoever wrote it. */
  maxBytes: number;
  random?: () => number;
}

export const CAPTURE_FILE = 'captured.jsonl';
const DATA_FILE = 'captured.bin';

export class SampleCapture {
  private lines?: WriteStream;
  private data?: WriteStream;
  private offset: number;
  private taken = 0;

  constructor(private readonly opts: CaptureOptions) {
    const bin = join(opts.dir, DATA_FILE);
    this.offset = existsSync(bin) ? statSync(bin).size : 0;
  }

  /** Considers one request (inputs in signature order); cheap when it is not taken. */
  offer(inputs: readonly Tensor[]): void {
    const { fraction, maxSamples, maxBytes } = this.opts;
    if (this.taken >= maxSamples || (this.opts.random ?? Math.random)() >= fraction) return;
    const raw = inputs.map(tensorBytes);
    const size = raw.reduce((a, b) => a + b.byteLength, 0);
    if (this.offset + size > maxBytes) return;
    this.lines ??= createWriteStream(join(this.opts.dir, CAPTURE_FILE), { flags: 'a' });
    this.data ??= createWriteStream(join(this.opts.dir, DATA_FILE), { flags: 'a' });
    const tensors = inputs.map((t, i) => {
      const entry = { name: t.name, datatype: t.datatype, shape: t.shape, data_file: DATA_FILE, data_offset: this.offset, data_size: raw[i].byteLength };
      // A copy: the request's buffers are transferred to an executor before the stream writes.
      this.data!.write(Buffer.from(raw[i]));
      this.offset += raw[i].byteLength;
      return entry;
    });
    this.lines.write(`${JSON.stringify({ inputs: tensors })}\n`);
    this.taken++;
  }

  get captured(): number {
    return this.taken;
  }

  /** Flushes and closes the files (on unload and reload). */
  async close(): Promise<void> {
    await Promise.all([this.lines, this.data].map((s) => s && new Promise<void>((resolve) => s.end(resolve))));
  }
}
