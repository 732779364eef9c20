// Loads models from the repository onto the executors and tracks each model's state, like
// Triton's model repository manager: load, unload, reload (new sessions first, then a swap, so a
// reload never interrupts serving), and an index with a reason for every model that is not ready.
import { collectGarbageSoon } from '../runtime/collect-garbage.js';
import { EventEmitter } from 'node:events';
import { isParetoError, ModelConfigError, ModelLoadError, ModelNotFoundError, ModelNotReadyError, VersionNotFoundError } from '../errors.js';
import { join, sep } from 'node:path';
import { fitSamples, readSampleFile } from '../datasets/sample-file.js';
import { SampleCapture } from './sample-capture.js';
import { tensorSignatures, type ModelConfig, type VariantSpec } from '../repository/model-config.js';
import type { ModelRepository } from '../repository/model-repository.js';
import type { Profile } from '../repository/profile.js';
import { availableProviders } from '../runtime/execution-providers.js';
import type { ExecutorPool } from '../runtime/executor-pool.js';
import type { ModelCatalog } from './model-catalog.js';
import type { SessionSignature, WireTensor } from '../runtime/messages.js';
import { DTYPE } from '../tensor/dtype.js';
import { concatBatch } from '../tensor/batch.js';
import type { TensorSignature } from '../tensor/validate.js';

export type ModelState = 'READY' | 'LOADING' | 'UNLOADING' | 'UNAVAILABLE';

export interface LoadedVariant {
  name: string;
  /** The executors' session key; changes on every reload. */
  sessionKey: string;
  spec: VariantSpec;
  profile?: Profile;
}

export interface LoadedModel {
  name: string;
  config: ModelConfig;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  variants: Map<string, LoadedVariant>;
  defaultVariant: LoadedVariant;
  /** Requests of this model queued or running. */
  outstanding: number;
  /** Where the model captures live requests, if its config asks to. */
  capture?: SampleCapture;
}

export interface ModelStatus {
  name: string;
  state: ModelState;
  reason?: string;
  versions: string[];
}

interface Entry {
  state: ModelState;
  reason?: string;
  model?: LoadedModel;
}

export class ModelHost extends EventEmitter<{ unloading: [model: LoadedModel]; drained: [model: LoadedModel]; retired: [model: LoadedModel] }> implements ModelCatalog {
  // 'unloading': queued requests of the model must be failed now; 'drained': none are left;
  // 'retired': its sessions are freed, and nothing may keep it.
  private readonly entries = new Map<string, Entry>();
  private generation = 0;

  constructor(private readonly repository: ModelRepository, private readonly pool: ExecutorPool) {
    super();
  }

  /** Loads every model in the repository; a bad one is marked UNAVAILABLE and the rest load. */
  async loadAll(): Promise<ModelStatus[]> {
    for (const name of this.repository.list()) await this.load(name).catch(() => undefined);
    return this.index();
  }

  index(): ModelStatus[] {
    const names = new Set([...this.repository.list(), ...this.entries.keys()]);
    return [...names].sort().map((name) => {
      const e = this.entries.get(name);
      return {
        name,
        state: e?.state ?? 'UNAVAILABLE',
        reason: e ? e.reason : 'not loaded',
        versions: e?.model ? [...e.model.variants.keys()] : [],
      };
    });
  }

  ready(): LoadedModel[] {
    const out: LoadedModel[] = [];
    for (const e of this.entries.values()) if (e.state === 'READY' && e.model) out.push(e.model);
    return out;
  }

  /** The model, ready to serve; 404 if unknown, 503 if not ready. */
  get(name: string): LoadedModel {
    const e = this.entries.get(name);
    if (e?.model && (e.state === 'READY' || e.state === 'LOADING')) return e.model;
    if (!e && !this.repository.list().includes(name)) throw new ModelNotFoundError(name);
    throw new ModelNotReadyError(name, e?.reason ?? `state ${e?.state ?? 'UNAVAILABLE'}; load it with POST /v2/repository/models/${name}/load`);
  }

  /** Known without touching the disk: loaded, or tried (for bounded metric labels on the hot path). */
  isKnown(name: string): boolean {
    return this.entries.has(name);
  }

  has(name: string): boolean {
    return this.entries.has(name) || this.repository.list().includes(name);
  }

  variant(model: LoadedModel, version: string | undefined): LoadedVariant {
    if (version === undefined || version === '') return model.defaultVariant;
    const v = model.variants.get(version);
    if (!v) throw new VersionNotFoundError(model.name, version, [...model.variants.keys()]);
    return v;
  }

  /** Loads, or reloads, one model. The previous version serves until the new one is ready. */
  async load(name: string): Promise<ModelStatus> {
    try {
      return await this.loadNow(name);
    } finally {
      collectGarbageSoon();
    }
  }

  private async loadNow(name: string): Promise<ModelStatus> {
    const previous = this.entries.get(name);
    if (previous?.state === 'LOADING' || previous?.state === 'UNLOADING') {
      throw new ModelNotReadyError(name, `a ${previous.state.toLowerCase()} is already in progress`);
    }
    this.entries.set(name, { state: 'LOADING', model: previous?.state === 'READY' ? previous.model : undefined });
    const loadedKeys: string[] = [];
    try {
      const { config, variants } = this.repository.read(name);
      const generation = this.generation++;
      const inputs = tensorSignatures(config, 'inputs');
      const outputs = tensorSignatures(config, 'outputs', join(this.repository.root, name));
      const warmup = warmupInputs(config, inputs, join(this.repository.root, name));
      const loaded = new Map<string, LoadedVariant>();
      for (const [i, files] of variants.entries()) {
        const spec = config.variants[i];
        if (!availableProviders().includes(spec.execution_provider)) {
          throw new ModelLoadError(name, spec.name, `execution provider '${spec.execution_provider}' is not available here (available: ${availableProviders().join(', ')})`);
        }
        const sessionKey = `${name}/${spec.name}#${generation}`;
        let signature: SessionSignature;
        try {
          signature = await this.pool.load(sessionKey, files.onnxPath, {
            intraOpThreads: spec.intra_op_threads ?? 1,
            executionProvider: spec.execution_provider,
            allowSpinning: false,
          });
        } catch (e) {
          throw isParetoError(e) ? e : new ModelLoadError(name, spec.name, (e as Error).message);
        } finally {
          loadedKeys.push(sessionKey);
        }
        checkSignature(name, spec.name, signature, inputs, outputs, config.batching.max_batch_size);
        for (const sample of warmup) {
          await this.pool.warmup(sessionKey, sample).catch((e: Error) => {
            throw new ModelLoadError(name, spec.name, `warm-up run failed: ${e.message}`);
          });
        }
        loaded.set(spec.name, { name: spec.name, sessionKey, spec, profile: files.profile });
      }
      const c = config.capture;
      const model: LoadedModel = {
        name, config, inputs, outputs, variants: loaded,
        defaultVariant: loaded.get(config.default_variant ?? config.variants[0].name)!,
        outstanding: 0,
        capture: c && new SampleCapture({ dir: join(this.repository.root, name), fraction: c.fraction, maxSamples: c.max_samples, maxBytes: c.max_bytes }),
      };
      this.entries.set(name, { state: 'READY', model });
      // The old version finishes what it has queued; new requests already go to the new one.
      if (previous?.model) void this.retire(previous.model, false);
      return this.status(name);
    } catch (e) {
      await Promise.all(loadedKeys.map((k) => this.pool.unload(k).catch(() => undefined)));
      // Clients see this reason (503s, the repository index): paths relative to the repository,
      // never where it lives on the server's disk (ONNX Runtime's own messages name the file too).
      if (e instanceof Error) e.message = e.message.replaceAll(`${this.repository.root}${sep}`, '');
      const reason = e instanceof Error ? e.message : String(e);
      if (previous?.state === 'READY' && previous.model) {
        this.entries.set(name, { state: 'READY', model: previous.model, reason: `reload failed, still serving the previous version: ${reason}` });
      } else {
        this.entries.set(name, { state: 'UNAVAILABLE', reason });
      }
      throw e;
    }
  }

  /** Unloads a model: queued requests get 503 at once, running batches finish. */
  async unload(name: string): Promise<ModelStatus> {
    try {
      return await this.unloadNow(name);
    } finally {
      collectGarbageSoon();
    }
  }

  private async unloadNow(name: string): Promise<ModelStatus> {
    const e = this.entries.get(name);
    if (!e) {
      if (!this.repository.list().includes(name)) throw new ModelNotFoundError(name);
      return this.status(name);
    }
    if (e.state === 'UNLOADING') throw new ModelNotReadyError(name, 'an unload is already in progress');
    if (!e.model) {
      this.entries.set(name, { state: 'UNAVAILABLE', reason: 'unloaded' });
      return this.status(name);
    }
    this.entries.set(name, { state: 'UNLOADING', model: e.model, reason: 'unloading' });
    await this.retire(e.model, true);
    this.entries.set(name, { state: 'UNAVAILABLE', reason: 'unloaded' });
    return this.status(name);
  }

  status(name: string): ModelStatus {
    return this.index().find((s) => s.name === name)!;
  }

  /** Waits for the model's outstanding requests (cancelling queued ones first if asked), then frees its sessions. */
  private async retire(model: LoadedModel, cancelQueued: boolean): Promise<void> {
    if (cancelQueued) this.emit('unloading', model);
    while (model.outstanding > 0) await new Promise<void>((resolve) => {
      const onDrained = (m: LoadedModel) => { if (m === model) { this.off('drained', onDrained); resolve(); } };
      this.on('drained', onDrained);
    });
    await Promise.all([...model.variants.values()].map((v) => this.pool.unload(v.sessionKey)));
    await model.capture?.close();
    this.emit('retired', model);
  }

  /** Called by the dispatcher when a model has no request queued or running. */
  notifyDrained(model: LoadedModel): void {
    this.emit('drained', model);
  }
}

/** Warm-up runs at most this many samples of a sample file: enough to touch each shape once or twice. */
const MAX_WARMUP_SAMPLES = 4;

/**
 * The warm-up inputs: the model's sample file, or one request of zeros where the signature fixes
 * every dimension but the batch axis and no input is unbatched. Anything else would be a guess at
 * shapes or values (a sample rate of 0) that the graph may refuse: then none.
 */
function warmupInputs(config: ModelConfig, inputs: TensorSignature[], dir: string): WireTensor[][] {
  if (config.warmup === false) return [];
  if (config.warmup !== undefined) {
    const file = join(dir, config.warmup);
    let samples;
    try {
      samples = readSampleFile(file, MAX_WARMUP_SAMPLES);
    } catch (e) {
      throw new ModelConfigError(file, `warmup: ${(e as Error).message}`);
    }
    let runs: WireTensor[][];
    try {
      runs = fitSamples(samples, inputs, Math.max(1, config.batching.max_batch_size)).map((s) => s.inputs);
    } catch (e) {
      throw new ModelConfigError(file, `warmup ${(e as Error).message}`);
    }
    // And a full batch of the first sample: ONNX Runtime grows its buffers on the first run of a
    // larger batch, and that run must not be a request's (bench:own-model: every late answer came
    // in the first burst, when the fast variant first ran batches of 4).
    const full = fullBatch(runs[0], inputs, config.batching.max_batch_size);
    return full ? [...runs, full] : runs;
  }
  if (inputs.some((t) => t.batchAxis === null || t.shape.some((d, i) => d === -1 && i !== t.batchAxis))) return [];
  const zeros = inputs.map((t) => {
    const shape = t.shape.map((d) => (d === -1 ? 1 : d));
    const count = shape.reduce((a, b) => a * b, 1);
    return { name: t.name, datatype: t.datatype, shape, data: t.datatype === 'BYTES' ? new Array<string>(count).fill('') : new DTYPE[t.datatype].array(count) };
  });
  const full = fullBatch(zeros, inputs, config.batching.max_batch_size);
  return full ? [zeros, full] : [zeros];
}

/** The sample repeated along every batch axis up to max_batch_size rows (undefined when that is one row). */
function fullBatch(sample: WireTensor[], inputs: TensorSignature[], maxBatchSize: number): WireTensor[] | undefined {
  const i = inputs.findIndex((s) => s.batchAxis !== null);
  if (i === -1) return undefined;
  const rows = sample[i].shape[inputs[i].batchAxis!];
  const copies = Math.floor(maxBatchSize / rows);
  if (copies < 2) return undefined;
  return inputs.map((s, k) => (s.batchAxis === null ? sample[k] : concatBatch(Array.from({ length: copies }, () => sample[k]), s.batchAxis)));
}

type GraphTensor = SessionSignature['inputs'][number];

/** The shape to write for a graph tensor: its fixed dims, -1 for symbolic ones. */
function shapeToWrite(graph: GraphTensor): string {
  return `[${(graph.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : -1)).join(', ')}]`;
}

/** Checks model.yaml against the ONNX graph: names, datatypes, ranks, fixed dims and a fixed batch axis. */
function checkSignature(model: string, variant: string, got: SessionSignature, inputs: TensorSignature[], outputs: TensorSignature[], maxBatchSize: number): void {
  const fail = (why: string): never => { throw new ModelLoadError(model, variant, why); };
  const check = (kind: 'input' | 'output', wanted: TensorSignature[], actual: GraphTensor[]) => {
    for (const w of wanted) {
      const a = actual.find((x) => x.name === w.name);
      if (!a) fail(`model.yaml declares ${kind} '${w.name}', but the ONNX model's ${kind}s are: ${actual.map((x) => x.name).join(', ')}`);
      if (a!.datatype && a!.datatype !== w.datatype) fail(`${kind} '${w.name}' is ${a!.datatype} in the ONNX model but ${w.datatype} in model.yaml: write datatype: ${a!.datatype}`);
      const dims = a!.shape;
      if (!dims) continue;
      if (dims.length !== w.shape.length) fail(`${kind} '${w.name}' has ${dims.length} dimensions in the ONNX model but model.yaml declares [${w.shape}]: write shape: ${shapeToWrite(a!)}`);
      dims.forEach((g, axis) => {
        if (typeof g !== 'number' || g <= 0) return; // symbolic: any size the config allows
        const c = w.shape[axis];
        if (axis === w.batchAxis) {
          if (g === 1 && maxBatchSize <= 1) return;
          fail(`${kind} '${w.name}' is fixed at ${g} on its batch axis (${axis}) in the ONNX model, so it cannot take batches of other sizes: ` +
            (g === 1 ? 'write max_batch_size: 1 (one row per run)' : `write max_batch_size: 0 and shape: ${shapeToWrite(a!)}`));
        }
        if (c !== g) fail(`${kind} '${w.name}' is fixed at ${g} on axis ${axis} in the ONNX model but model.yaml declares [${w.shape}]: write shape: ${shapeToWrite(a!)}`);
      });
    }
  };
  check('input', inputs, got.inputs);
  check('output', outputs, got.outputs);
  const missing = got.inputs.filter((a) => !inputs.some((w) => w.name === a.name));
  if (missing.length) throw new ModelLoadError(model, variant, `the ONNX model needs inputs that model.yaml does not declare: ${missing.map((m) => m.name).join(', ')}`);
}
