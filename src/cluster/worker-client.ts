// A gateway's connection to one worker: ModelInfer with raw tensor bytes (the Open Inference
// Protocol, so any server that speaks it can be a worker), ModelMetadata, and Pareto's load report.
import * as grpc from '@grpc/grpc-js';
import { DeadlineError, UpstreamError } from '../errors.js';
import { decodeParameters, encodeParameters } from '../protocol/grpc/infer-codec.js';
import { inferenceService, loadReporterService } from '../protocol/grpc/proto.js';
import { HTTP_OF_GRPC } from '../protocol/status-codes.js';
import type { LoadReport } from '../protocol/load-report.js';
import type { Parameters } from '../protocol/types.js';
import type { Datatype } from '../tensor/dtype.js';
import { fromBytes, tensorBytes, type Tensor } from '../tensor/tensor.js';

/** A model's tensors as the protocol's metadata gives them (no batch axes: the load report has those). */
export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  shape: number[];
}

export interface ModelSignature {
  name: string;
  versions: string[];
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** Why a call failed, for the retry decision: the worker could not take it, or it answered no. */
export class WorkerUnreachableError extends Error {
  /** `timedOut`: no answer in time, as against a refused or reset connection (a live worker can be slow, not refuse). */
  constructor(readonly address: string, why: string, readonly timedOut = false) {
    super(`worker ${address}: ${why}`);
  }
}

/** The server answers the protocol but has no Pareto load report (Triton, say). */
export class NoLoadReportError extends Error {}

/** What a gateway needs of a worker, over gRPC or REST. */
export interface WorkerTransport {
  readonly address: string;
  report(timeoutMs?: number): Promise<LoadReport>;
  /** A load report built from the protocol's own endpoints, for servers without Pareto's. */
  discover?(timeoutMs?: number): Promise<LoadReport>;
  metadata(model: string, timeoutMs?: number): Promise<ModelSignature>;
  run(model: string, version: string, inputs: Tensor[], params: Parameters, timeoutMs: number): Promise<{ outputs: Tensor[]; parameters: Parameters }>;
  close(): void;
}

/** Refusals after which another worker may well succeed. */
export const RETRYABLE_CODES = new Set(['PARETO_ERR_SHUTTING_DOWN', 'PARETO_ERR_MODEL_NOT_READY', 'PARETO_ERR_MODEL_UNLOADED', 'PARETO_ERR_OVERLOADED', 'PARETO_ERR_MODEL_NOT_FOUND', 'PARETO_ERR_VERSION_NOT_FOUND']);


type Callback = (err: grpc.ServiceError | null, res: any) => void;
type Method = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => void;

export class WorkerClient implements WorkerTransport {
  private readonly infer: grpc.Client & Record<string, Method>;
  private readonly reporter: grpc.Client & Record<string, Method>;

  /** `key`: the API key workers that have tenants of their own expect from gateways. */
  constructor(readonly address: string, private readonly key?: string, maxMessageBytes = 64 * 1024 * 1024) {
    const options = { 'grpc.max_receive_message_length': maxMessageBytes, 'grpc.max_send_message_length': maxMessageBytes };
    const Infer = inferenceService();
    this.infer = new Infer(address, grpc.credentials.createInsecure(), options) as never;
    // The same channel for both services: one connection per worker.
    const Reporter = loadReporterService();
    this.reporter = new Reporter(address, grpc.credentials.createInsecure(), { channelOverride: this.infer.getChannel() } as never) as never;
  }

  private call<T>(client: Record<string, Method>, method: string, req: object, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      if (this.key) md.set('authorization', `Bearer ${this.key}`);
      client[method](req, md, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  report(timeoutMs = 1000): Promise<LoadReport> {
    return this.call<LoadReport>(this.reporter, 'Report', {}, timeoutMs).catch((e: grpc.ServiceError) => {
      if (e.code === grpc.status.UNIMPLEMENTED) throw new NoLoadReportError(`worker ${this.address} has no Pareto load report; a plain Open Inference Protocol server joins over REST: list it as http://host:port`);
      throw new WorkerUnreachableError(this.address, `load report failed: ${e.details || e.message}`, e.code === grpc.status.DEADLINE_EXCEEDED);
    });
  }

  async metadata(model: string, timeoutMs = 1000): Promise<ModelSignature> {
    const md = await this.call<{ name: string; versions: string[]; inputs: any[]; outputs: any[] }>(this.infer, 'ModelMetadata', { name: model, version: '' }, timeoutMs);
    const sig = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, datatype: t.datatype as Datatype, shape: t.shape.map(Number) });
    return { name: md.name, versions: md.versions, inputs: md.inputs.map(sig), outputs: md.outputs.map(sig) };
  }

  /**
   * Runs one batch on `version`. Throws WorkerUnreachableError when another worker should get it
   * (connection lost, worker shutting down or without the model), an UpstreamError or a
   * DeadlineError when the worker's answer stands.
   */
  async run(model: string, version: string, inputs: Tensor[], params: Parameters, timeoutMs: number): Promise<{ outputs: Tensor[]; parameters: Parameters }> {
    const req = {
      model_name: model,
      model_version: version,
      id: '',
      parameters: encodeParameters(params),
      inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
      outputs: [],
      raw_input_contents: inputs.map((t) => { const b = tensorBytes(t); return Buffer.from(b.buffer, b.byteOffset, b.byteLength); }),
    };
    let res: { outputs: Array<{ name: string; datatype: Datatype; shape: number[] }>; raw_output_contents: Buffer[]; parameters: Record<string, never> };
    try {
      res = await this.call(this.infer, 'ModelInfer', req, timeoutMs);
    } catch (e) {
      throw this.classify(e as grpc.ServiceError);
    }
    const outputs = res.outputs.map((o, i) => fromBytes(o.name, o.datatype, o.shape.map(Number), res.raw_output_contents[i]));
    return { outputs, parameters: decodeParameters(res.parameters) };
  }

  private classify(e: grpc.ServiceError): Error {
    const code = e.metadata?.get('pareto-error-code')[0];
    if (typeof code === 'string') {
      if (RETRYABLE_CODES.has(code)) return new WorkerUnreachableError(this.address, `${code}: ${e.details}`);
      return new UpstreamError(code, e.details, HTTP_OF_GRPC[e.code] ?? 500, e.code);
    }
    // No Pareto code: a transport failure, or a plain Open Inference Protocol server's answer.
    if (e.code === grpc.status.DEADLINE_EXCEEDED) return new DeadlineError(`worker ${this.address} did not answer before the deadline`);
    if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.CANCELLED || e.code === grpc.status.UNKNOWN || e.code === grpc.status.INTERNAL) {
      return new WorkerUnreachableError(this.address, e.details || e.message);
    }
    return new UpstreamError('PARETO_ERR_UPSTREAM', `worker ${this.address}: ${e.details}`, HTTP_OF_GRPC[e.code] ?? 500, e.code);
  }

  close(): void {
    this.infer.close();
  }
}
