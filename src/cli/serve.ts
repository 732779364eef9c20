// `pareto serve` (the one-node server) and `pareto worker` (the same, announced to a cluster).
import { Command, InvalidArgumentError, Option } from 'commander';
import { startWorker } from '../cluster/worker.js';
import type { ServerOptions } from '../server.js';
import type { FrontDoorInput } from '../front-door.js';
import { DEFAULT_YIELD_HOLD_MS } from '../scheduler/executor-commitments.js';
import { DEFAULT_GC_EVERY_STREAMS } from '../runtime/mark-compact-pacer.js';
import { preTouchYoungGeneration } from '../runtime/pre-touch.js';

export function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`'${value}' is not an integer`);
  return n;
}

export function fraction(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`'${value}' is not in (0, 1]`);
  return n;
}

/** Options every front door has: where it listens, limits, logs. */
export function addFrontDoorOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--host <address>', 'address to listen on').env('PARETO_HOST').default('0.0.0.0'))
    .addOption(new Option('--http-port <port>', 'HTTP/REST port (0 = pick a free port, printed as http_port=N)').env('PARETO_HTTP_PORT').default(8000).argParser(integer))
    .addOption(new Option('--grpc-port <port>', 'gRPC port (0 = pick a free port, printed as grpc_port=N)').env('PARETO_GRPC_PORT').default(8001).argParser(integer))
    .addOption(new Option('--max-body-bytes <n>', 'largest request body or gRPC message accepted (413 / RESOURCE_EXHAUSTED above it)').env('PARETO_MAX_BODY_BYTES').default(64 * 1024 * 1024).argParser(integer))
    .addOption(new Option('--max-json-bytes <n>', 'largest JSON in a REST request: a JSON body, or a binary body\'s JSON header (413 above it)').env('PARETO_MAX_JSON_BYTES').default(16 * 1024 * 1024).argParser(integer))
    .addOption(new Option('--max-inflight-body-bytes <n>', 'bytes of REST request bodies held at once, counted from the headers on (503 past it)').env('PARETO_MAX_INFLIGHT_BODY_BYTES').default(512 * 1024 * 1024).argParser(integer))
    .addOption(new Option('--max-tenant-body-bytes <n>', 'bytes of REST request bodies one tenant holds at once (429 past it)').env('PARETO_MAX_TENANT_BODY_BYTES').default(256 * 1024 * 1024).argParser(integer))
    .addOption(new Option('--headers-timeout-ms <ms>', 'a REST request\'s headers must arrive within this (408 past it)').env('PARETO_HEADERS_TIMEOUT_MS').default(10_000).argParser(integer))
    .addOption(new Option('--request-timeout-ms <ms>', 'a REST request, body included, must arrive within this (408 past it)').env('PARETO_REQUEST_TIMEOUT_MS').default(60_000).argParser(integer))
    .addOption(new Option('--keep-alive-timeout-ms <ms>', 'how long an idle REST connection stays open (above a load balancer\'s idle timeout)').env('PARETO_KEEP_ALIVE_TIMEOUT_MS').default(65_000).argParser(integer))
    .addOption(new Option('--min-body-bytes-per-second <n>', 'a REST body still arriving must gain at least this many bytes a second; 3 s in a row below it: 408 (0: no floor)').env('PARETO_MIN_BODY_BYTES_PER_SECOND').default(64 * 1024).argParser(integer))
    .addOption(new Option('--decoders <n>', 'threads that decode large REST bodies in tenant-fair order (default: one per 4 cores, at least 1; 0: on the event loop)').env('PARETO_DECODERS').argParser(integer))
    .addOption(new Option('--decode-offload-bytes <n>', 'REST bodies that cost as much to decode as this many bytes of JSON (binary data counts 1/16) go to a decoder thread').env('PARETO_DECODE_OFFLOAD_BYTES').default(32 * 1024).argParser(integer))
    .addOption(new Option('--refusals-per-second <n>', 'refusals at the door (401, 403, 429, 503) answered at once per tenant (and for callers without a key together)').env('PARETO_REFUSALS_PER_SECOND').default(100).argParser(integer))
    .addOption(new Option('--refusal-delay-ms <ms>', 'the least a refusal beyond that waits, its body unread; waiting ones are answered at --refusals-per-second (0: none wait)').env('PARETO_REFUSAL_DELAY_MS').default(250).argParser(integer))
    .addOption(new Option('--max-held-refusals <n>', 'refusals one caller may have waiting; past it, answered at once with the connection closed (a gRPC call: its status at once, the channel kept)').env('PARETO_MAX_HELD_REFUSALS').default(1024).argParser(integer))
    .addOption(new Option('--max-refusal-wait-ms <ms>', 'the longest a refusal waits (never under --refusal-delay-ms); past it, answered at once with the connection closed').env('PARETO_MAX_REFUSAL_WAIT_MS').default(2000).argParser(integer))
    .addOption(new Option('--drain-timeout-ms <ms>', 'on SIGTERM, how long requests already read may take to be answered before every connection is closed').env('PARETO_DRAIN_TIMEOUT_MS').default(10_000).argParser(integer))
    .addOption(new Option('--max-queued-samples <n>', 'samples queued server-wide beyond which new requests get 503').env('PARETO_MAX_QUEUED_SAMPLES').default(65536).argParser(integer))
    .addOption(new Option('--yield-hold-ms <ms>', 'while a higher priority class has had a request within the last second, a lower class\'s batch waits up to this long to fill and runs on the fastest variant that meets its accuracy floor (0: lower classes do not make way)').env('PARETO_YIELD_HOLD_MS').default(DEFAULT_YIELD_HOLD_MS).argParser(integer))
    .addOption(new Option('--no-grpc-thread', 'serve the gRPC port\'s HTTP/2 on the event loop, not on a thread of its own (to measure the difference: npm run bench:abuse)').env('PARETO_NO_GRPC_THREAD'))
    .addOption(new Option('--no-grpc-raw-infer', 'serve gRPC ModelInfer through grpc-js like every other call, not on the raw HTTP/2 stream (to measure the difference: npm run bench:grpc-path)'))
    .addOption(new Option('--gc-every-streams <n>', 'start a mark-compact every this many gRPC calls (HTTP/2 streams), so that the header strings Node\'s HTTP/2 leaves in the old generation are freed a few at a time, not all in one long pause (0: V8\'s own schedule alone)').env('PARETO_GC_EVERY_STREAMS').default(DEFAULT_GC_EVERY_STREAMS).argParser(integer))
    .addOption(new Option('--no-door-share', 'within a priority, take requests\' door work (decoding, admission, encoding) first come instead of sharing the event loop by weight (to measure what sharing does)'))
    .addOption(new Option('--log-level <level>', 'pino log level: every request at debug, server faults at error').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).env('PARETO_LOG_LEVEL').default('info'))
    .addOption(new Option('--no-telemetry', 'record no metrics, dashboard data or request logs (to measure their cost)'))
    .addOption(new Option('--tenants <file>', 'tenants.yaml: API keys, allowed models, quotas, SLOs (reloaded on change and SIGHUP); without it the server is open').env('PARETO_TENANTS'))
    .addOption(new Option('--metrics-token <token>', 'token for GET /metrics (the admin token works too)').env('PARETO_METRICS_TOKEN'))
    .addOption(new Option('--open-metrics', 'serve /metrics to anyone who can reach the port (local use)').env('PARETO_OPEN_METRICS'))
    .addOption(new Option('--allow-client-shm', 'let callers register POSIX shared memory (/dev/shm) and pass tensors through it (Triton\'s system shared memory; clients on this host only)').env('PARETO_ALLOW_CLIENT_SHM'))
    .addOption(new Option('--admin-token <token>', 'token for the repository API (load/unload); a random one is printed if not set').env('PARETO_ADMIN_TOKEN'));
}

function serverCommand(name: string, description: string, example: string): Command {
  return addFrontDoorOptions(new Command(name).description(description))
    .addOption(new Option('-r, --repository <dir>', 'model repository folder').env('PARETO_REPOSITORY').default('models'))
    .addOption(new Option('--executors <n>', 'executor threads (default: one per core, one intra-op thread each)').env('PARETO_EXECUTORS').argParser(integer))
    .addOption(new Option('--pipeline-depth <n>', 'batches queued per executor, so it never idles between batches').env('PARETO_PIPELINE_DEPTH').default(2).argParser(integer))
    .addHelpText('after', `\nExamples:\n${example}`);
}

/** Prints the ports on lines of their own (scripts and tests read them), and stops gracefully on SIGTERM/SIGINT. */
export function announceAndWait(role: string, server: { httpPort: number; grpcPort: number; admin: { token: string }; close(): Promise<void> }, opts: { host: string; adminToken?: string }): void {
  preTouchYoungGeneration(); // RSS at its working size before the first request
  console.log(`http_port=${server.httpPort}`);
  console.log(`grpc_port=${server.grpcPort}`);
  if (!opts.adminToken) console.log(`admin_token=${server.admin.token}`);
  console.log(`pareto ${role} on http://${opts.host}:${server.httpPort} (REST) and ${opts.host}:${server.grpcPort} (gRPC)`);
  const stop = (signal: string) => {
    console.log(`pareto: ${signal}, finishing in-flight requests`);
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** The parsed front-door flags (addFrontDoorOptions) as the options schema names them. */
export function frontDoorOptions(opts: Record<string, any>): FrontDoorInput {
  return {
    host: opts.host,
    httpPort: opts.httpPort,
    grpcPort: opts.grpcPort,
    maxBodyBytes: opts.maxBodyBytes,
    maxJsonBytes: opts.maxJsonBytes,
    maxInflightBodyBytes: opts.maxInflightBodyBytes,
    maxTenantBodyBytes: opts.maxTenantBodyBytes,
    headersTimeoutMs: opts.headersTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs,
    keepAliveTimeoutMs: opts.keepAliveTimeoutMs,
    minBodyBytesPerSecond: opts.minBodyBytesPerSecond,
    decoders: opts.decoders,
    decodeOffloadBytes: opts.decodeOffloadBytes,
    refusalsPerSecond: opts.refusalsPerSecond,
    refusalDelayMs: opts.refusalDelayMs,
    maxHeldRefusals: opts.maxHeldRefusals,
    maxRefusalWaitMs: opts.maxRefusalWaitMs,
    drainTimeoutMs: opts.drainTimeoutMs,
    maxQueuedSamples: opts.maxQueuedSamples,
    yieldHoldMs: opts.yieldHoldMs,
    doorShare: opts.doorShare,
    grpcRawInfer: opts.grpcRawInfer,
    grpcThread: opts.grpcThread,
    gcEveryStreams: opts.gcEveryStreams,
    adminToken: opts.adminToken,
    metricsToken: opts.metricsToken,
    openMetrics: opts.openMetrics === true,
    allowClientShm: opts.allowClientShm === true,
    logLevel: opts.logLevel,
    telemetry: opts.telemetry,
    tenants: opts.tenants,
  };
}

function serverOptions(opts: Record<string, any>): ServerOptions {
  return { ...frontDoorOptions(opts), repository: opts.repository, executors: opts.executors, pipelineDepth: opts.pipelineDepth, workerId: opts.workerId };
}

/** `--listen host:port`: where a worker's gRPC listens (gateways call it there); REST stays on --http-port. */
function listenAddress(value: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError(`'${value}' is not host:port`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function run(role: string, opts: Record<string, any>): Promise<void> {
  if (opts.listen) {
    opts.host = opts.listen.host;
    opts.grpcPort = opts.listen.port;
  }
  const server = await startWorker({ ...serverOptions(opts), redis: opts.redis, advertiseHost: opts.advertiseHost });
  for (const m of server.models) {
    console.log(`model ${m.name}: ${m.state}${m.state === 'READY' ? ` (versions: ${m.versions.join(', ')})` : ` — ${m.reason}`}`);
  }
  if (opts.redis) console.log(`worker ${server.workerId} announced at ${server.address} in ${opts.redis}`);
  announceAndWait(role, server, opts as { host: string; adminToken?: string });
}

export function serveCommand(): Command {
  return serverCommand('serve', 'Serve every model in a model repository over the Open Inference Protocol (REST and gRPC)', `  $ pareto serve                               # models/ on ports 8000 (HTTP) and 8001 (gRPC)
  $ pareto serve --http-port 0 --grpc-port 0   # free ports, printed on lines of their own
  $ curl localhost:8000/v2/models/mnist-mlp    # model metadata`)
    .action((opts) => run('serving', opts));
}

export function workerCommand(): Command {
  return serverCommand('worker', 'Run models for gateways: a full server that announces itself in Redis and reports its load', `  $ pareto worker --redis redis://127.0.0.1:6379 --http-port 0 --grpc-port 0
  $ pareto worker --listen 0.0.0.0:9001 --http-port 9000   # for a gateway started with --workers host:9001
  $ grpcurl -plaintext localhost:8001 pareto.LoadReporter/Report`)
    .addOption(new Option('--listen <host:port>', 'gRPC address gateways call (sets --host and --grpc-port; REST stays on --http-port)').env('PARETO_LISTEN').argParser(listenAddress))
    .addOption(new Option('--redis <url>', 'announce this worker in Redis (a heartbeat every 500 ms; gone 1.5 s after it stops)').env('PARETO_REDIS'))
    .addOption(new Option('--advertise-host <host>', 'host gateways reach this worker at (default: --host, or the machine name when listening on 0.0.0.0)').env('PARETO_ADVERTISE_HOST'))
    .addOption(new Option('--worker-id <id>', 'name in membership and load reports (default: hostname-pid)').env('PARETO_WORKER_ID'))
    .action((opts) => run('worker', opts));
}
