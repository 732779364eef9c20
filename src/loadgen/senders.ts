// One function per protocol that sends a prepared inference request and reports what came back:
// REST with binary tensors, REST with JSON tensors, and gRPC. Requests are built once, sent many times.
import * as grpc from '@grpc/grpc-js';
import { Http1Pool } from './http1-pool.js';
import { inferenceService } from '../protocol/grpc/proto.js';
import { HTTP_OF_GRPC } from '../protocol/status-codes.js';
import { ExactJson } from '../tensor/exact-json.js';
import { tensorBytes, type Tensor } from '../tensor/tensor.js';

export const PROTOCOLS = ['rest-binary', 'rest-json', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface Reply {
  status: number;
  /** gRPC: the server's error code (pareto-error-code); absent on an error the server did not send, such as a dropped connection. */
  code?: string;
  variant?: string;
  accuracy?: number;
  /** The server's own account (pareto-queue-ms, pareto-compute-ms): what of the latency was its queue and its executors. */
  queueMs?: number;
  computeMs?: number;
}

export type Sender = () => Promise<Reply>;

export interface RequestSpec {
  model: string;
  version?: string;
  key?: string;
  /** One request's input: rows × 784 pixels (ignored when `inputs` is given). */
  pixels: Float32Array;
  rows: number;
  inputName?: string;
  outputName?: string;
  /** The request's tensors, for any model (a user's sample); replaces `pixels`. */
  inputs?: Tensor[];
}

function tensorsOf(spec: RequestSpec): Tensor[] {
  return spec.inputs ?? [{ name: spec.inputName ?? 'input', datatype: 'FP32', shape: [spec.rows, spec.pixels.length / spec.rows], data: spec.pixels }];
}

/** A response header's number; undefined where absent or not a number (accuracy 'unmeasured'). */
function numberOf(v: unknown): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined;
}


export class Senders {
  private readonly pools = new Map<string, Http1Pool>();
  private readonly clients = new Map<string, grpc.Client>();

  constructor(private readonly connections = 512) {}

  private pool(origin: string): Http1Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      const url = new URL(origin);
      if (url.protocol !== 'http:') throw new Error(`the load generator speaks plain HTTP/1.1; ${origin} is not an http:// origin`);
      this.pools.set(origin, (pool = new Http1Pool(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 80), this.connections, ['pareto-variant', 'pareto-accuracy', 'pareto-queue-ms', 'pareto-compute-ms'])));
    }
    return pool;
  }

  /** A whole request's bytes, head and body, built once and written as is each time it is sent. */
  private static requestBytes(origin: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Buffer {
    const head = [`${method} ${path} HTTP/1.1`, `host: ${new URL(origin).host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    const broken = head.find((line) => /[^\x20-\x7e\t]/.test(line)); // CR and LF among them
    if (broken) throw new Error(`a request line or header holds a line break or a character HTTP/1.1 cannot carry: ${JSON.stringify(broken.slice(0, 60))}`);
    if (body) head.push(`content-length: ${body.length}`);
    const headBytes = Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1');
    return body ? Buffer.concat([headBytes, body]) : headBytes;
  }

  /**
   * Opens `n` connections to `origin` before a measured run, as a client fleet in steady state has
   * them (wrk opens all of its own first too): otherwise a run's first burst also measures opening
   * hundreds of connections, on the client's CPU as much as the server's.
   */
  async preconnect(origin: string, n: number): Promise<void> {
    const live = this.get(origin, '/v2/health/live');
    await Promise.all(Array.from({ length: n }, live));
  }

  /** A GET of `path` (a health probe), on the same connections as the origin's inference requests. */
  get(origin: string, path: string): Sender {
    const pool = this.pool(origin);
    const bytes = Senders.requestBytes(origin, 'GET', path, {});
    return async () => ({ status: (await pool.request(bytes)).status });
  }

  rest(origin: string, spec: RequestSpec, binary: boolean): Sender {
    const pool = this.pool(origin);
    const tensors = tensorsOf(spec);
    let body: Buffer;
    const headers: Record<string, string> = {};
    if (binary) {
      const raw = tensors.map(tensorBytes);
      const header = Buffer.from(JSON.stringify({
        inputs: tensors.map((t, i) => ({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: raw[i].byteLength } })),
        ...(spec.inputs ? { parameters: { binary_data_output: true } } : { outputs: [{ name: spec.outputName ?? 'logits', parameters: { binary_data: true } }] }),
      }));
      body = Buffer.concat([header, ...raw]);
      headers['content-type'] = 'application/octet-stream';
      headers['inference-header-content-length'] = String(header.length);
    } else {
      const json = new ExactJson();
      body = Buffer.from(json.stringify({ inputs: tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: json.data(t) })) }));
      headers['content-type'] = 'application/json';
    }
    if (spec.key) headers.authorization = `Bearer ${spec.key}`;
    const path = `/v2/models/${spec.model}${spec.version ? `/versions/${spec.version}` : ''}/infer`;
    const bytes = Senders.requestBytes(origin, 'POST', path, headers, body);
    return async () => {
      const res = await pool.request(bytes);
      return { status: res.status, variant: res.headers['pareto-variant'], accuracy: numberOf(res.headers['pareto-accuracy']), queueMs: numberOf(res.headers['pareto-queue-ms']), computeMs: numberOf(res.headers['pareto-compute-ms']) };
    };
  }

  grpc(address: string, spec: RequestSpec): Sender {
    let client = this.clients.get(address);
    if (!client) {
      const Client = inferenceService();
      this.clients.set(address, (client = new Client(address, grpc.credentials.createInsecure())));
    }
    const request = {
      model_name: spec.model,
      model_version: spec.version ?? '',
      inputs: tensorsOf(spec).map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
      raw_input_contents: tensorsOf(spec).map((t) => Buffer.from(tensorBytes(t))),
    };
    const metadata = new grpc.Metadata();
    if (spec.key) metadata.set('authorization', `Bearer ${spec.key}`);
    const c = client as grpc.Client & { ModelInfer: Function };
    return () => new Promise((resolve) => {
      c.ModelInfer(request, metadata, (err: grpc.ServiceError | null, res: { parameters?: Record<string, { string_param?: string; double_param?: number }> }) => {
        if (err) resolve({ status: HTTP_OF_GRPC[err.code] ?? 500, code: err.metadata?.get('pareto-error-code')[0]?.toString() });
        else resolve({ status: 200, variant: res.parameters?.variant?.string_param, accuracy: res.parameters?.accuracy?.double_param });
      });
    });
  }

  for(protocol: Protocol, target: { origin: string; grpcAddress?: string }, spec: RequestSpec): Sender {
    if (protocol === 'grpc') {
      if (!target.grpcAddress) throw new Error('gRPC needs the server\'s gRPC address (--grpc host:port)');
      return this.grpc(target.grpcAddress, spec);
    }
    return this.rest(target.origin, spec, protocol === 'rest-binary');
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    for (const c of this.clients.values()) c.close();
  }
}
