// `pareto gateway`: the tenant front door for a cluster of workers.
import { Command, Option } from 'commander';
import { startGateway } from '../cluster/gateway.js';
import { addFrontDoorOptions, announceAndWait, fraction, frontDoorOptions } from './serve.js';

export function gatewayCommand(): Command {
  return addFrontDoorOptions(new Command('gateway')
    .description('Front door for a cluster: keys, quotas, fair share and the planner, with remote workers as executors'))
    .addOption(new Option('--redis <url>', 'Redis for worker membership and cluster-wide tenant rate limits').env('PARETO_REDIS'))
    .addOption(new Option('--workers <list>', 'static workers, comma-separated: host:port (gRPC) or http://host:port (REST), beside or instead of Redis').env('PARETO_WORKERS'))
    .addOption(new Option('--worker-protocol <p>', 'how batches travel to workers that offer both (REST binary is cheaper on loopback)').choices(['rest', 'grpc']).env('PARETO_WORKER_PROTOCOL').default('rest'))
    .addOption(new Option('--worker-key <key>', 'API key to send to workers that run with a tenants file of their own').env('PARETO_WORKER_KEY'))
    .addOption(new Option('--worker-connect-timeout-ms <ms>', 'how long a new connection to a worker may take before it counts as unreachable (its batch goes to another worker)').env('PARETO_WORKER_CONNECT_TIMEOUT_MS').default(500).argParser(Number))
    .addOption(new Option('--target-utilization <f>', 'executor utilisation the autoscaler sizes workers for (pareto_autoscaler_desired_workers)').env('PARETO_TARGET_UTILIZATION').default(0.6).argParser(fraction))
    .addOption(new Option('--autoscale-window <s>', 'seconds over which the autoscaler smooths arrival rates').env('PARETO_AUTOSCALE_WINDOW').default(10).argParser(Number))
    .addOption(new Option('--gateway-id <id>', 'name in membership and logs (default: hostname-pid)').env('PARETO_GATEWAY_ID'))
    .addHelpText('after', `
Examples:
  $ pareto gateway --redis redis://127.0.0.1:6379 --tenants tenants.yaml
  $ pareto gateway --workers 10.0.0.5:8001,10.0.0.6:8001   # no Redis: static workers, per-gateway limits`)
    .action(async (opts) => {
      const gateway = await startGateway({
        ...frontDoorOptions(opts), redis: opts.redis,
        workers: opts.workers ? String(opts.workers).split(',').map((s) => s.trim()).filter(Boolean) : [],
        gatewayId: opts.gatewayId, targetUtilization: opts.targetUtilization, autoscaleWindowS: opts.autoscaleWindow, workerProtocol: opts.workerProtocol, workerKey: opts.workerKey, workerConnectTimeoutMs: opts.workerConnectTimeoutMs,
      });
      announceAndWait('gateway', gateway, opts);
    });
}
