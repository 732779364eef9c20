// `pareto serve`: the one-node server (front door, batching and executors in one process).
import { Command, InvalidArgumentError, Option } from 'commander';
import { startServer } from '../server.js';

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`'${value}' is not an integer`);
  return n;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('Serve every model in a model repository over the Open Inference Protocol (REST and gRPC)')
    .addOption(new Option('-r, --repository <dir>', 'model repository folder').env('PARETO_REPOSITORY').default('models'))
    .addOption(new Option('--host <address>', 'address to listen on').env('PARETO_HOST').default('0.0.0.0'))
    .addOption(new Option('--http-port <port>', 'HTTP/REST port (0 = pick a free port, printed as http_port=N)').env('PARETO_HTTP_PORT').default(8000).argParser(integer))
    .addOption(new Option('--grpc-port <port>', 'gRPC port (0 = pick a free port, printed as grpc_port=N)').env('PARETO_GRPC_PORT').default(8001).argParser(integer))
    .addOption(new Option('--executors <n>', 'executor threads (default: one per core, one intra-op thread each)').env('PARETO_EXECUTORS').argParser(integer))
    .addOption(new Option('--pipeline-depth <n>', 'batches queued per executor, so it never idles between batches').env('PARETO_PIPELINE_DEPTH').default(2).argParser(integer))
    .addOption(new Option('--max-body-bytes <n>', 'largest request body or gRPC message accepted (413 / RESOURCE_EXHAUSTED above it)').env('PARETO_MAX_BODY_BYTES').default(64 * 1024 * 1024).argParser(integer))
    .addOption(new Option('--max-queued-samples <n>', 'samples queued server-wide beyond which new requests get 503').env('PARETO_MAX_QUEUED_SAMPLES').default(65536).argParser(integer))
    .addOption(new Option('--log-level <level>', 'pino log level: every request at debug, server faults at error').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).env('PARETO_LOG_LEVEL').default('info'))
    .addOption(new Option('--no-telemetry', 'record no metrics, dashboard data or request logs (to measure their cost)'))
    .addOption(new Option('--tenants <file>', 'tenants.yaml: API keys, allowed models, quotas, SLOs (reloaded on change and SIGHUP); without it the server is open').env('PARETO_TENANTS'))
    .addOption(new Option('--admin-token <token>', 'token for the repository API (load/unload); a random one is printed if not set').env('PARETO_ADMIN_TOKEN'))
    .addHelpText('after', `
Examples:
  $ pareto serve                               # models/ on ports 8000 (HTTP) and 8001 (gRPC)
  $ pareto serve --http-port 0 --grpc-port 0   # free ports, printed on lines of their own
  $ curl localhost:8000/v2/models/mnist-mlp    # model metadata`)
    .action(async (opts) => {
      const server = await startServer({
        repository: opts.repository,
        host: opts.host,
        httpPort: opts.httpPort,
        grpcPort: opts.grpcPort,
        executors: opts.executors,
        pipelineDepth: opts.pipelineDepth,
        maxBodyBytes: opts.maxBodyBytes,
        adminToken: opts.adminToken,
        tenants: opts.tenants,
        maxQueuedSamples: opts.maxQueuedSamples,
        logLevel: opts.logLevel,
        telemetry: opts.telemetry,
      });
      for (const m of server.models) {
        console.log(`model ${m.name}: ${m.state}${m.state === 'READY' ? ` (versions: ${m.versions.join(', ')})` : ` — ${m.reason}`}`);
      }
      console.log(`http_port=${server.httpPort}`);
      console.log(`grpc_port=${server.grpcPort}`);
      if (!opts.adminToken) console.log(`admin_token=${server.admin.token}`);
      console.log(`pareto serving on http://${opts.host}:${server.httpPort} (REST) and ${opts.host}:${server.grpcPort} (gRPC)`);
      const stop = (signal: string) => {
        console.log(`pareto: ${signal}, finishing in-flight requests`);
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
