// `pareto import`: a model folder (model.yaml and the fp32 variant) from an ONNX graph's own
// signature, as Triton's auto-complete config does, with every choice it made said out loud.
// Batch axes are read from the graph where it names them (a dim named like an input's batch
// axis), probed with a sample where one is given (which output axis grows when the batch does),
// and otherwise guessed and flagged for the user to check.
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { Document, isSeq, visit } from 'yaml';
import { readSampleFile, type Sample } from '../datasets/sample-file.js';
import { concatBatch } from '../tensor/batch.js';
import { ortFeeds } from '../runtime/ort-feeds.js';
import { datatypeFromOrt, type Datatype } from '../tensor/dtype.js';
import { ExactJson } from '../tensor/exact-json.js';
import type { Tensor } from '../tensor/tensor.js';
import { ModelConfigSchema } from './model-config.js';

export interface ImportOptions {
  source: string;
  repository: string;
  name: string;
  maxBatchSize?: number;
  /** A sample file (docs/data-format.md): probes output batch axes and becomes the warm-up. */
  sample?: string;
  force?: boolean;
}

export interface ImportResult {
  dir: string;
  config: Record<string, unknown>;
  /** What was decided and why; lines starting with "check:" are guesses to verify. */
  notes: string[];
}

interface GraphTensor {
  name: string;
  datatype: Datatype;
  dims: Array<number | string>;
}

interface TensorEntry {
  name: string;
  datatype: Datatype;
  shape: number[];
  batch_axis?: number;
  batched?: false;
}

const isFixed = (d: number | string): d is number => typeof d === 'number' && d > 0;

function describeTensors(metadata: readonly ort.InferenceSession.ValueMetadata[], kind: string): GraphTensor[] {
  return metadata.map((m) => {
    if (!m.isTensor) throw new Error(`${kind} '${m.name}' is not a tensor (a sequence or map); Pareto serves tensors only`);
    const datatype = datatypeFromOrt(m.type);
    if (!datatype) throw new Error(`${kind} '${m.name}' has type ${m.type}, which the Open Inference Protocol cannot carry`);
    return { name: m.name, datatype, dims: [...m.shape] };
  });
}

/** Each input's batch axis (null: unbatched), with notes. */
function inputAxes(inputs: GraphTensor[], notes: string[]): Array<number | null> {
  // A dim name that appears at axis 0 of some input names the batch (exporters call it 'batch', 'N', …).
  const batchNames = new Set(inputs.map((t) => t.dims[0]).filter((d): d is string => typeof d === 'string' && d !== ''));
  return inputs.map((t) => {
    if (t.dims.length === 0) {
      notes.push(`input '${t.name}' is a scalar: not batched (requests with different values run in different batches)`);
      return null;
    }
    if (!isFixed(t.dims[0])) return 0;
    const named = t.dims.findIndex((d) => typeof d === 'string' && batchNames.has(d));
    if (named > 0) {
      notes.push(`input '${t.name}': batch axis ${named}, the dim the graph names '${t.dims[named]}' like other inputs' batch axis`);
      return named;
    }
    if (t.dims[0] === 1 && t.dims.every(isFixed)) return 0; // a fixed batch of one: see maxBatchSize
    const dynamic = t.dims.findIndex((d) => !isFixed(d));
    if (dynamic > 0) {
      notes.push(`check: input '${t.name}' ${dimsText(t)}: batch axis ${dynamic} guessed (its first variable dim); write batch_axis, or batched: false if it is the same for every request`);
      return dynamic;
    }
    notes.push(`input '${t.name}' ${dimsText(t)} is fixed: not batched`);
    return null;
  });
}

function dimsText(t: GraphTensor): string {
  return `[${t.dims.map((d) => (isFixed(d) ? d : typeof d === 'string' && d !== '' ? d : '?')).join(', ')}]`;
}

/** Runs the sample at batch 1 and 2 (the sample twice): an output's batch axis is the one that doubles. */
async function probeOutputAxes(session: ort.InferenceSession, inputs: GraphTensor[], axes: Array<number | null>, outputs: GraphTensor[], sample: Sample): Promise<Array<number | null> | undefined> {
  const feeds = (copies: number) => {
    const batch: Tensor[] = [];
    inputs.forEach((spec, i) => {
      const t = sample.inputs.find((x) => x.name === spec.name);
      if (!t) throw new Error(`the sample has no input '${spec.name}'`);
      batch.push(axes[i] === null || copies === 1 ? t : concatBatch(Array.from({ length: copies }, (): Tensor => t), axes[i]!));
    });
    return ortFeeds(batch);
  };
  const rows = (() => {
    const i = axes.findIndex((a) => a !== null);
    return i === -1 ? 1 : sample.inputs.find((x) => x.name === inputs[i].name)!.shape[axes[i]!];
  })();
  const one = await session.run(feeds(1));
  let two;
  try {
    two = await session.run(feeds(2));
  } catch {
    return undefined; // the graph refuses a batch of two: a fixed batch
  }
  return outputs.map((o) => {
    const a = one[o.name].dims, b = two[o.name].dims;
    const grown = a.findIndex((d, i) => Number(b[i]) === 2 * Number(d) && Number(d) === rows);
    return grown === -1 ? null : grown;
  });
}

/** YAML with shapes on one line ([-1, 3, -1, -1]), as people write them. */
function yamlText(config: Record<string, unknown>): string {
  const doc = new Document(config);
  visit(doc, { Seq(_, node) { if (node.items.every((i) => !isSeq(i) && typeof (i as { value?: unknown }).value === 'number')) node.flow = true; } });
  return doc.toString({ lineWidth: 0 });
}

export async function importModel(opts: ImportOptions): Promise<ImportResult> {
  const dir = join(resolve(opts.repository), opts.name);
  if (existsSync(dir) && !opts.force) throw new Error(`${dir} exists; pick another --name, or --force to replace it`);
  const notes: string[] = [];
  const session = await ort.InferenceSession.create(resolve(opts.source), { intraOpNumThreads: 1 });
  try {
    const inputs = describeTensors(session.inputMetadata, 'input');
    const outputs = describeTensors(session.outputMetadata, 'output');
    const axes = inputAxes(inputs, notes);
    const fixedOne = inputs.some((t, i) => axes[i] !== null && t.dims[axes[i]!] === 1);
    let maxBatchSize = opts.maxBatchSize ?? 32;
    if (axes.every((a) => a === null)) {
      maxBatchSize = 0;
      notes.push('no input has a batch axis: max_batch_size: 0 (each request runs alone, its inputs as they are)');
    } else if (fixedOne) {
      maxBatchSize = 1;
      notes.push('the graph fixes the batch at 1: max_batch_size: 1 (one row per run; requests are not batched together)');
    }
    const samples = opts.sample ? readSampleFile(opts.sample, 1) : undefined;
    let outAxes: Array<number | null> | undefined;
    if (samples && maxBatchSize > 1) {
      outAxes = await probeOutputAxes(session, inputs, axes, outputs, samples[0]);
      if (outAxes) notes.push(`output batch axes probed with the sample at batch 1 and 2: ${outputs.map((o, i) => `${o.name} → ${outAxes![i] ?? 'not batched'}`).join(', ')}`);
    }
    const batchNames = new Set(inputs.map((t, i) => (axes[i] === null ? undefined : t.dims[axes[i]!])).filter((d) => typeof d === 'string' && d !== ''));
    const outputAxis = (o: GraphTensor, i: number): number | null => {
      if (outAxes) return outAxes[i];
      const named = o.dims.findIndex((d) => typeof d === 'string' && batchNames.has(d));
      if (named >= 0) return named;
      if (o.dims.length > 0 && !isFixed(o.dims[0])) {
        if (o.dims.every((d) => !isFixed(d)) && o.dims.length > 1) notes.push(`check: output '${o.name}' ${dimsText(o)}: batch axis 0 guessed; give --sample to probe it`);
        return 0;
      }
      if (o.dims[0] === 1 && maxBatchSize === 1) return 0;
      return null;
    };
    const entry = (t: GraphTensor, axis: number | null): TensorEntry => {
      const shape = t.dims.map((d, i) => (i === axis ? -1 : isFixed(d) ? d : -1));
      if (maxBatchSize === 0) return { name: t.name, datatype: t.datatype, shape: t.dims.map((d) => (isFixed(d) ? d : -1)) };
      if (axis === null) return { name: t.name, datatype: t.datatype, shape, batched: false };
      return axis === 0 ? { name: t.name, datatype: t.datatype, shape } : { name: t.name, datatype: t.datatype, shape, batch_axis: axis };
    };
    const config: Record<string, unknown> = {
      name: opts.name,
      description: `Imported from ${opts.source} by pareto import`,
      inputs: inputs.map((t, i) => entry(t, maxBatchSize === 0 ? null : axes[i])),
      outputs: outputs.map((o, i) => entry(o, maxBatchSize === 0 ? null : outputAxis(o, i))),
      batching: { max_batch_size: maxBatchSize, max_queue_delay_ms: 0 },
      variants: [{ name: 'fp32' }],
      ...(opts.sample ? { warmup: 'warmup.jsonl' } : {}),
    };
    const parsed = ModelConfigSchema.safeParse(config);
    if (!parsed.success) throw new Error(`the signature read from the graph does not make a valid model.yaml (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); write it by hand (docs/models.md)`);
    if (inputs.some((t) => t.dims.some((d, i) => !isFixed(d) && i !== 0))) notes.push('variable dims other than the batch axis: requests batch only with requests of the same shape');

    // Written beside the destination, then renamed into place: never a half-written model folder.
    const staging = `${dir}.importing-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(join(staging, 'fp32'), { recursive: true });
    copyFileSync(resolve(opts.source), join(staging, 'fp32', 'model.onnx'));
    const json = new ExactJson();
    if (samples) writeFileSync(join(staging, 'warmup.jsonl'), `${json.stringify({ inputs: samples[0].inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: json.data(t) })) })}\n`);
    writeFileSync(join(staging, 'model.yaml'), `# Written by \`pareto import\`; check the notes it printed, then pareto profile.\n${yamlText(config)}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    return { dir, config, notes };
  } finally {
    await session.release();
  }
}
