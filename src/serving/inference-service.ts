// The protocol-independent inference path: find model and variant, validate the tensors against
// the signature, queue for batching, and pick the requested outputs. REST and gRPC both call this.
import { ForbiddenError, InvalidRequestError, OverloadedError, PayloadTooLargeError, ServerShuttingDownError, SharedMemoryError } from '../errors.js';
import type { InferenceRequest, InferenceResponse } from '../protocol/types.js';
import { validateInputs } from '../tensor/validate.js';
import { performance } from 'node:perf_hooks';
import type { BatchDispatcher, Scheduling } from './batch-dispatcher.js';
import { TenantsFileSchema, PRIORITY_RANK } from '../tenancy/tenants-config.js';
import { resolveSlo } from '../tenancy/tenants.js';
import type { LoadedModel, LoadedVariant, ModelStatus } from './model-host.js';
import { tritonModelConfig } from '../protocol/model-config-view.js';
import { classify } from './classification.js';
import type { ModelCatalog } from './model-catalog.js';
import type { DoorPass, Tenant, Tenants } from '../tenancy/tenants.js';
import type { SharedMemoryRef, SharedMemoryRegions } from './shared-memory.js';
import { fromBytes, tensorBytes } from '../tensor/tensor.js';

/** Without a tenants file every request is this tenant's: no limits, SLOs only from request parameters. */
const OPEN_TENANT = TenantsFileSchema.parse({ tenants: [{ id: 'anonymous', keys: [`sha256:${'0'.repeat(64)}`], models: ['*'] }] }).tenants[0];

export class InferenceService {
  private accepting = true;

  /** `tenants` absent: an open server (no keys, no quotas), as for a single trusted client. */
  constructor(
    readonly models: ModelCatalog,
    private readonly dispatcher: BatchDispatcher,
    readonly tenants?: Tenants,
    /** Samples queued server-wide beyond which new requests get 503: a bound on memory and waiting. */
    private readonly maxQueuedSamples = 65_536,
    /** Triton's system shared memory, when the server allows it (--allow-client-shm). */
    readonly sharedMemory?: SharedMemoryRegions,
  ) {}

  /** The caller's shared-memory regions: its own (401 without a valid key; 403 where they are off). */
  sharedMemoryOf(authorization: string | undefined): { regions: SharedMemoryRegions; owner: string } {
    const owner = this.identify(authorization)?.id ?? OPEN_TENANT.id;
    return { regions: this.regions(), owner };
  }

  private regions(): SharedMemoryRegions {
    if (!this.sharedMemory) throw SharedMemoryError.disabled();
    return this.sharedMemory;
  }

  /**
   * The caller's tenant may use the model (else 403 before anything says whether it exists), and
   * the model is known (404). Without tenancy, only the latter.
   */
  authorize(authorization: string | undefined, model: string): Tenant | undefined {
    const tenant = this.identify(authorization);
    if (tenant && !tenant.mayUse(model)) throw new ForbiddenError(tenant.id, model);
    return tenant;
  }

  /**
   * A model the caller may use (403 otherwise, before anything says whether it exists; the admin
   * may use any), 404 for an unknown one, and for an unknown version if one is named.
   */
  modelFor(authorization: string | undefined, name: string, version?: string, asAdmin = false): LoadedModel {
    if (!asAdmin) this.authorize(authorization, name);
    const model = this.models.get(name);
    if (version !== undefined) this.models.variant(model, version);
    return model;
  }

  /** Triton's configuration of a model the caller may use (and of one of its versions, if named). */
  modelConfig(authorization: string | undefined, name: string, version?: string) {
    return tritonModelConfig(this.modelFor(authorization, name, version), this.dispatcher.executorCount(name));
  }

  /**
   * The repository index as far as the caller may see: the admin sees every model; a tenant, the
   * models its key may use (401 without a valid key); anyone, on an open server.
   */
  repositoryIndex(authorization: string | undefined, isAdmin: boolean, onlyReady: boolean): ModelStatus[] {
    const tenant = isAdmin ? undefined : this.identify(authorization);
    return this.models.index().filter((m) => (!tenant || tenant.mayUse(m.name)) && (!onlyReady || m.state === 'READY'));
  }

  /**
   * Which models and versions the caller's statistics query covers: the one named (as far as the
   * caller may use it; '' adds failures no variant served), or every ready model it may use.
   */
  statisticsScope(authorization: string | undefined, isAdmin: boolean, name?: string, version?: string): Array<{ name: string; versions: string[] }> {
    if (!name) return this.repositoryIndex(authorization, isAdmin, true).map((m) => ({ name: m.name, versions: [...m.versions, ''] }));
    const model = this.modelFor(authorization, name, version, isAdmin);
    return [{ name, versions: version !== undefined ? [version] : [...model.variants.keys(), ''] }];
  }

  /** The caller's tenant (401 without a valid key); undefined on an open server. */
  identify(authorization: string | undefined): Tenant | undefined {
    return this.tenants?.authenticate(authorization);
  }

  /**
   * Before the body is read: model access and room in the tenant's quota. `pass`: count the request
   * against the tenant's concurrency and expected samples from here on (send the pass as
   * caller.pass; release it when the request is answered).
   */
  precheck(tenant: Tenant | undefined, model: string, pass = false): DoorPass | undefined {
    return tenant && this.tenants!.precheck(tenant, model, pass);
  }

  /**
   * Where a request stands before its body is decoded: its tenant's weight and class, and the
   * deadline its tenant's SLO gives (request parameters may only tighten it, and are not read yet).
   */
  doorOrder(tenant: Tenant | undefined, model: string, arrival: number): { tenant: string; weight: number; priority: number; deadline: number } {
    const cfg = tenant?.config ?? OPEN_TENANT;
    const slo = resolveSlo(cfg, model, {});
    return { tenant: cfg.id, weight: cfg.weight, priority: PRIORITY_RANK[slo.priority], deadline: arrival + slo.latencyMs };
  }

  async infer(req: InferenceRequest): Promise<InferenceResponse> {
    if (!this.accepting) throw new ServerShuttingDownError();
    const tenant = req.caller ? req.caller.tenant : this.authorize(req.authorization, req.model);
    const model = this.models.get(req.model);
    const variant = this.models.variant(model, req.version);
    const owner = tenant?.id ?? OPEN_TENANT.id;
    if (req.sharedInputs) await this.readSharedInputs(req, owner);
    // An output region that is not there or too far out fails now, not after the batch has run.
    for (const o of req.outputs ?? []) if (o.sharedMemory) this.regions().check(owner, o.sharedMemory, `output '${o.name}'`);
    const rows = validateInputs(req.inputs, model.inputs, model.config.batching.max_batch_size);
    if (this.dispatcher.queuedSamples() + rows > this.maxQueuedSamples) {
      throw new OverloadedError(`the server has ${this.dispatcher.queuedSamples()} samples queued, its limit (--max-queued-samples); retry later`);
    }
    const tokens = tenant && this.tenants!.prepare(tenant, rows);
    if (tokens) await tokens;
    const admission = tenant && this.tenants!.admit(tenant, req.model, rows, req.parameters, req.caller?.pass);
    try {
      const slo = admission?.slo ?? resolveSlo(OPEN_TENANT, req.model, req.parameters);
      const arrival = performance.now();
      return await this.run(req, owner, model, req.version ? variant : undefined, rows, {
        tenant: owner,
        weight: tenant?.config.weight ?? 1,
        priority: PRIORITY_RANK[slo.priority],
        deadline: arrival + slo.latencyMs,
        minAccuracy: slo.minAccuracy,
      });
    } finally {
      admission?.release();
    }
  }

  /** Reads the inputs sent as shared-memory regions, within the same byte limit a body has. */
  private async readSharedInputs(req: InferenceRequest, owner: string): Promise<void> {
    const regions = this.regions();
    const shared = req.sharedInputs!;
    const total = shared.reduce((n, s) => n + s.ref.byteSize, 0);
    if (total > regions.maxRequestBytes) throw new PayloadTooLargeError(total, regions.maxRequestBytes, 'inputs in shared memory');
    const bytes = await Promise.all(shared.map((s) => regions.read(owner, s.ref, `input '${s.name}'`)));
    shared.forEach((s, i) => req.inputs.push(fromBytes(s.name, s.datatype, s.shape, bytes[i])));
    req.sharedInputs = undefined;
  }

  /** Writes the outputs asked for in shared memory; the response then carries where, not the data. */
  private async writeSharedOutputs(req: InferenceRequest, owner: string, outputs: InferenceResponse['outputs']): Promise<InferenceResponse['sharedOutputs']> {
    const wanted = req.outputs?.filter((o) => o.sharedMemory);
    if (!wanted?.length) return undefined;
    // A Map: an output may be named anything, '__proto__' included.
    const placed = new Map<string, SharedMemoryRef>();
    await Promise.all(wanted.map(async (o) => {
      const bytes = tensorBytes(outputs.find((t) => t.name === o.name)!);
      await this.regions().write(owner, o.sharedMemory!, bytes, `output '${o.name}'`);
      placed.set(o.name, { ...o.sharedMemory!, byteSize: bytes.byteLength });
    }));
    return placed;
  }

  private async run(req: InferenceRequest, owner: string, model: LoadedModel, pinned: LoadedVariant | undefined, rows: number, sched: Scheduling): Promise<InferenceResponse> {
    if (req.outputs) {
      for (const o of req.outputs) {
        if (!model.outputs.some((s) => s.name === o.name)) {
          throw new InvalidRequestError(`unknown output '${o.name}'; the model's outputs are: ${model.outputs.map((s) => s.name).join(', ')}`);
        }
      }
    }
    const ordered = model.inputs.map((spec) => req.inputs.find((t) => t.name === spec.name)!);
    model.capture?.offer(ordered);
    // `immediate`: a gateway formed this batch already, so it skips the queue delay here.
    const result = await this.dispatcher.submit(model, pinned, ordered, rows, sched, req.parameters.immediate === true);
    const outputs = req.outputs
      ? req.outputs.map((o) => {
        const t = result.outputs.find((x) => x.name === o.name)!;
        return o.classCount ? classify(t, model.outputs.find((s) => s.name === o.name)!, o.classCount) : t;
      })
      : result.outputs.filter((t) => model.outputs.some((s) => s.name === t.name));
    const sharedOutputs = await this.writeSharedOutputs(req, owner, outputs);
    return { model: model.name, version: result.serving.variant, id: req.id, outputs, ...(sharedOutputs ? { sharedOutputs } : {}), serving: result.serving };
  }

  /** A front end's report of a request that failed as malformed (400, 413): it counts against the tenant's rate. */
  malformed(tenant: Tenant | undefined, status: number): void {
    if (tenant && (status === 400 || status === 413)) this.tenants?.chargeMalformed(tenant);
  }

  /** Stop taking new requests (graceful shutdown); queued ones still finish. */
  stopAccepting(): void {
    this.accepting = false;
  }
}
