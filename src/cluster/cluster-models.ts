// The gateway's model catalog: the models its workers report, with signatures from the protocol's
// ModelMetadata and variant profiles from the load report. A model is READY while some worker up
// serves it. Loading and unloading happen on the workers, not here.
import { ModelNotFoundError, ModelNotReadyError, UnsupportedError, VersionNotFoundError } from '../errors.js';
import type { LoadReport } from '../protocol/load-report.js';
import { ModelConfigSchema, tensorSignatures, VariantSpec } from '../repository/model-config.js';
import type { Profile } from '../repository/profile.js';
import type { ModelCatalog } from '../serving/model-catalog.js';
import type { LoadedModel, LoadedVariant, ModelStatus } from '../serving/model-host.js';
import type { ModelSignature, TensorMetadata } from './worker-client.js';

type ModelLoad = LoadReport['models'][number];

export class ClusterModels implements ModelCatalog {
  private readonly models = new Map<string, LoadedModel>();

  constructor(private readonly servingWorkers: (model: string) => number, private readonly anyWorkerUp: () => boolean = () => true) {}

  /**
   * A model as one worker reports it. Its signature and batching come from the first sight; its
   * variants are the union over workers (routing sends each batch to a worker that has its variant).
   */
  add(signature: ModelSignature | undefined, load: ModelLoad): void {
    const known = this.models.get(load.name);
    if (known) return this.addVariants(known, load);
    if (!signature) return;
    const maxBatchSize = load.tensors?.length || signature.inputs.every((t) => t.shape[0] === -1) ? load.max_batch_size : 0;
    const spec = (output: boolean) => (t: TensorMetadata) => {
      if (maxBatchSize === 0) return t;
      // Without the report's axes (a plain protocol server), axis 0 where it is variable.
      const axis = load.tensors ? load.tensors.find((b) => b.name === t.name && b.output === output)?.batch_axis ?? 0 : t.shape[0] === -1 ? 0 : -1;
      return axis === -1 ? { ...t, batched: false } : { ...t, batch_axis: axis };
    };
    const config = ModelConfigSchema.parse({
      name: load.name,
      inputs: signature.inputs.map(spec(false)),
      outputs: signature.outputs.map(spec(true)),
      batching: { enabled: load.batching, max_batch_size: maxBatchSize, max_queue_delay_ms: load.max_queue_delay_ms },
      scheduling: { policy: load.policy },
      variants: load.variants.map((v) => ({ name: v.name })),
      default_variant: load.default_variant || undefined,
    });
    const variants = new Map<string, LoadedVariant>(load.variants.map((v) => [v.name, {
      name: v.name,
      sessionKey: `${load.name}/${v.name}`,
      spec: config.variants.find((s) => s.name === v.name)!,
      profile: v.has_profile ? profileOf(v) : undefined,
    }]));
    const outputs = tensorSignatures(config, 'outputs').map((t) => {
      const labels = load.tensors?.find((b) => b.output && b.name === t.name)?.labels;
      return labels?.length ? { ...t, labels } : t;
    });
    this.models.set(load.name, {
      name: load.name, config, inputs: tensorSignatures(config, 'inputs'), outputs, variants,
      defaultVariant: variants.get(config.default_variant ?? config.variants[0].name)!,
      outstanding: 0,
    });
  }

  private addVariants(model: LoadedModel, load: ModelLoad): void {
    for (const v of load.variants) {
      if (model.variants.has(v.name)) continue;
      const spec = VariantSpec.parse({ name: v.name });
      model.config.variants.push(spec);
      model.variants.set(v.name, { name: v.name, sessionKey: `${load.name}/${v.name}`, spec, profile: v.has_profile ? profileOf(v) : undefined });
    }
  }

  /** Every model seen, served now or not. */
  all(): LoadedModel[] {
    return [...this.models.values()];
  }

  ready(): LoadedModel[] {
    return this.all().filter((m) => this.servingWorkers(m.name) > 0);
  }

  get(name: string): LoadedModel {
    const model = this.models.get(name);
    // Before any worker has reported, "unknown" would be a guess: say why instead.
    if (!model && !this.anyWorkerUp()) throw new ModelNotReadyError(name, 'the gateway has no live worker yet, so no model is known; retry shortly');
    if (!model) throw new ModelNotFoundError(name);
    if (this.servingWorkers(name) === 0) throw new ModelNotReadyError(name, 'no live worker serves it now');
    return model;
  }

  variant(model: LoadedModel, version: string | undefined): LoadedVariant {
    if (version === undefined || version === '') return model.defaultVariant;
    const v = model.variants.get(version);
    if (!v) throw new VersionNotFoundError(model.name, version, [...model.variants.keys()]);
    return v;
  }

  isKnown(name: string): boolean {
    return this.models.has(name);
  }

  has(name: string): boolean {
    return this.models.has(name);
  }

  index(): ModelStatus[] {
    return [...this.models.values()].sort((a, b) => a.name.localeCompare(b.name)).map((m) => {
      const workers = this.servingWorkers(m.name);
      return workers > 0
        ? { name: m.name, state: 'READY' as const, reason: `served by ${workers} worker${workers === 1 ? '' : 's'}`, versions: [...m.variants.keys()] }
        : { name: m.name, state: 'UNAVAILABLE' as const, reason: 'no live worker serves it now', versions: [...m.variants.keys()] };
    });
  }

  load(): Promise<ModelStatus> {
    return Promise.reject(new UnsupportedError('a gateway serves the models its workers load: load it on the workers (POST /v2/repository/models/{name}/load there)'));
  }

  unload(): Promise<ModelStatus> {
    return Promise.reject(new UnsupportedError('a gateway serves the models its workers load: unload it on the workers'));
  }
}

function profileOf(v: ModelLoad['variants'][number]): Profile {
  return {
    accuracy: { metric: 'accuracy', value: v.accuracy, samples: 1, reference: 'worker load report' },
    latency: v.latency.map((l) => ({ batch_size: l.batch_size, p50_ms: l.p50_ms, p99_ms: l.p50_ms, runs: 1 })),
    measured: {},
  };
}
