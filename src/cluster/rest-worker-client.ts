// The gateway's connection to a worker over REST with the binary tensor extension (HTTP/1.1
// keep-alive, undici): the protocol's cheapest path here. Measured with bench:cluster on loopback,
// a worker's c=1 p50 over gRPC was ~0.17 ms above REST binary, and the gateway hop shrank by as
// much when it switched.
import type { IncomingHttpHeaders } from 'node:http';
import { errors, Pool, type Dispatcher } from 'undici';
import { DeadlineError, UpstreamError } from '../errors.js';
import type { LoadReport } from '../protocol/load-report.js';
import { GRPC_OF_HTTP } from '../protocol/status-codes.js';
import type { Parameters } from '../protocol/types.js';
import type { Datatype } from '../tensor/dtype.js';
import { fromBytes, tensorBytes, type Tensor } from '../tensor/tensor.js';
import { NoLoadReportError, RETRYABLE_CODES, WorkerUnreachableError, type ModelSignature, type WorkerTransport } from './worker-client.js';

export class RestWorkerClient implements WorkerTransport {
  private readonly pool: Pool;

  private readonly auth: Record<string, string>;

  /**
   * `key`: the API key workers that have tenants of their own expect from gateways;
   * `connectTimeoutMs`: how long a new connection may take (undici's default is 10 s).
   */
  constructor(readonly address: string, origin: string, key?: string, connectTimeoutMs = 500) {
    this.pool = new Pool(origin, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000, connect: { timeout: connectTimeoutMs } });
    this.auth = key ? { authorization: `Bearer ${key}` } : {};
  }

  /**
   * One call, answered within `timeoutMs` whatever the network does: undici ignores a request's
   * abort signal while the request waits for a connection being made (measured: a 300 ms signal
   * ended after the 10 s connect timeout, twice that for a request queued behind it), so the call
   * also races its own timer, which aborts it too (that ends it on a connection already open).
   */
  private async request(opts: Omit<Dispatcher.RequestOptions, 'origin' | 'signal'>, timeoutMs: number): Promise<{ statusCode: number; headers: IncomingHttpHeaders; bytes: Buffer }> {
    const ms = Math.max(1, Math.ceil(timeoutMs));
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new DeadlineError(`worker ${this.address} did not answer within ${ms} ms`));
        abort.abort();
      }, ms);
    });
    const call = (async () => {
      const res = await this.pool.request({ ...opts, signal: abort.signal });
      try {
        return { statusCode: res.statusCode, headers: res.headers, bytes: Buffer.from(await res.body.arrayBuffer()) };
      } catch (e) {
        throw new WorkerUnreachableError(this.address, `reply cut off: ${(e as Error).message}`);
      }
    })();
    call.catch(() => undefined); // it settles after the timer has answered
    try {
      return await Promise.race([call, timeout]);
    } catch (e) {
      if (e instanceof WorkerUnreachableError || e instanceof DeadlineError) throw e;
      // A connection not made in time is no answer in time: on a lossy link, one lost SYN (its
      // retransmit waits 1 s) does it to a live worker.
      throw new WorkerUnreachableError(this.address, (e as Error).message, e instanceof errors.ConnectTimeoutError);
    } finally {
      clearTimeout(timer);
    }
  }

  private async json<T>(method: 'GET' | 'POST', path: string, timeoutMs: number): Promise<T> {
    let res;
    try {
      res = await this.request({ path, method, headers: { ...this.auth, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'POST' ? { body: '{}' } : {}) }, timeoutMs);
    } catch (e) {
      throw new WorkerUnreachableError(this.address, `${method} ${path}: ${(e as Error).message}`, e instanceof DeadlineError || (e instanceof WorkerUnreachableError && e.timedOut));
    }
    const text = res.bytes.toString();
    if (res.statusCode === 404 && path === '/v2/pareto/load') throw new NoLoadReportError(`${this.address} has no Pareto load report`);
    if (res.statusCode !== 200) throw new WorkerUnreachableError(this.address, `${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    return JSON.parse(text) as T;
  }

  private get<T>(path: string, timeoutMs: number): Promise<T> {
    return this.json<T>('GET', path, timeoutMs);
  }

  report(timeoutMs = 1000): Promise<LoadReport> {
    return this.get<LoadReport>('/v2/pareto/load', timeoutMs);
  }

  /**
   * For an Open Inference Protocol server without Pareto's load report (Triton, say): the models
   * from the repository index, their versions and signatures from model metadata, the batch limit
   * from Triton's model configuration where it offers one (else no batching). Unprofiled, so the
   * planner treats every version as exact and free until it has measured them.
   */
  async discover(timeoutMs = 1000): Promise<LoadReport> {
    const index = await this.json<Array<{ name: string; state?: string }>>('POST', '/v2/repository/index', timeoutMs);
    const names = [...new Set(index.filter((e) => !e.state || e.state === 'READY').map((e) => e.name))];
    const models: LoadReport['models'] = [];
    for (const name of names) {
      const md = await this.metadata(name, timeoutMs);
      let maxBatch = 1;
      if (md.inputs.every((t) => t.shape[0] === -1)) {
        maxBatch = await this.get<{ max_batch_size?: number }>(`/v2/models/${encodeURIComponent(name)}/config`, timeoutMs).then((c) => c.max_batch_size ?? 1, () => 1);
      }
      const versions = md.versions.length ? md.versions : ['1'];
      models.push({
        name, batching: maxBatch > 1, max_batch_size: Math.max(1, maxBatch), max_queue_delay_ms: 0, policy: 'adaptive', default_variant: versions[0], queued_samples: 0,
        variants: versions.map((v) => ({ name: v, has_profile: false, accuracy: 0, latency: [], batches: 0, mean_compute_ms: 0, mean_batch_size: 0 })),
      });
    }
    return { worker_id: this.address, executors: 1, pipeline_depth: 2, queued_samples: 0, inflight_batches: 0, inflight_requests: 0, models };
  }

  async metadata(model: string, timeoutMs = 1000): Promise<ModelSignature> {
    const md = await this.get<ModelSignature>(`/v2/models/${encodeURIComponent(model)}`, timeoutMs);
    return { name: md.name, versions: md.versions, inputs: md.inputs, outputs: md.outputs };
  }

  async run(model: string, version: string, inputs: Tensor[], params: Parameters, timeoutMs: number): Promise<{ outputs: Tensor[]; parameters: Parameters }> {
    const raw = inputs.map(tensorBytes);
    const header = Buffer.from(JSON.stringify({
      inputs: inputs.map((t, i) => ({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: raw[i].byteLength } })),
      parameters: { ...params, binary_data_output: true },
    }));
    const res = await this.request({
      path: `/v2/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}/infer`,
      method: 'POST',
      body: Buffer.concat([header, ...raw]),
      headers: { ...this.auth, 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    }, timeoutMs);
    const bytes = res.bytes;
    if (res.statusCode !== 200) {
      let error: { error?: string; code?: string } = {};
      try { error = JSON.parse(bytes.toString()); } catch { /* not JSON: a plain server's error page */ }
      if (error.code && RETRYABLE_CODES.has(error.code)) throw new WorkerUnreachableError(this.address, `${error.code}: ${error.error}`);
      if (!error.code && (res.statusCode === 502 || res.statusCode === 503)) throw new WorkerUnreachableError(this.address, `HTTP ${res.statusCode}`);
      throw new UpstreamError(error.code ?? 'PARETO_ERR_UPSTREAM', error.error ?? `worker ${this.address} answered HTTP ${res.statusCode}`, res.statusCode, GRPC_OF_HTTP[res.statusCode] ?? 13);
    }
    const headerLength = Number(res.headers['inference-header-content-length'] ?? bytes.length);
    const reply = JSON.parse(bytes.subarray(0, headerLength).toString()) as { outputs: Array<{ name: string; datatype: Datatype; shape: number[]; parameters?: { binary_data_size?: number } }>; parameters?: Parameters };
    let offset = headerLength;
    const outputs = reply.outputs.map((o) => {
      const size = o.parameters?.binary_data_size ?? 0;
      const t = fromBytes(o.name, o.datatype, o.shape, bytes.subarray(offset, offset + size));
      offset += size;
      return t;
    });
    return { outputs, parameters: reply.parameters ?? {} };
  }

  close(): void {
    void this.pool.destroy();
  }
}
