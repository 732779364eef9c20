// `pareto cluster up`: redis-server, gateways and autoscaled workers as processes on this machine.
import { Command, InvalidArgumentError, Option } from 'commander';
import { LocalCluster } from '../cluster/local-cluster.js';
import { fraction, integer } from './serve.js';

export function clusterCommand(): Command {
  const up = new Command('up')
    .description('Start redis-server, gateways and workers here, and scale the workers on the autoscaler\'s estimate')
    .addOption(new Option('-r, --repository <dir>', 'model repository every worker serves').env('PARETO_REPOSITORY').default('models'))
    .addOption(new Option('--tenants <file>', 'tenants.yaml for the gateways').env('PARETO_TENANTS'))
    .addOption(new Option('--gateways <n>', 'gateway processes').default(1).argParser(integer))
    .addOption(new Option('--min-workers <n>', 'fewest worker processes').default(1).argParser(integer))
    .addOption(new Option('--max-workers <n>', 'most worker processes').default(4).argParser(integer))
    .addOption(new Option('--executors-per-worker <n>', 'executor threads in each worker').default(1).argParser(integer))
    .addOption(new Option('--host <address>', 'address every process listens on').default('127.0.0.1'))
    .addOption(new Option('--http-port <port>', 'the first gateway\'s HTTP port').env('PARETO_HTTP_PORT').default(8000).argParser(integer))
    .addOption(new Option('--grpc-port <port>', 'the first gateway\'s gRPC port').env('PARETO_GRPC_PORT').default(8001).argParser(integer))
    .addOption(new Option('--redis <url>', 'use this Redis instead of starting redis-server').env('PARETO_REDIS'))
    .addOption(new Option('--scale-interval <ms>', 'how often the autoscaler decides').default(5000).argParser(integer))
    .addOption(new Option('--target-utilization <f>', 'executor utilisation the autoscaler sizes workers for').default(0.6).argParser(fraction))
    .addOption(new Option('--autoscale-window <s>', 'seconds over which gateways smooth arrival rates').default(10).argParser(Number))
    .addOption(new Option('--admin-token <token>', 'admin token for every process').env('PARETO_ADMIN_TOKEN'))
    .addHelpText('after', `
Examples:
  $ pareto cluster up --tenants tenants.yaml                 # 1 gateway on :8000/:8001, 1–4 workers
  $ pareto cluster up --gateways 2 --min-workers 3 --max-workers 8`)
    .action(async (opts) => {
      if (opts.minWorkers < 1 || opts.maxWorkers < opts.minWorkers) throw new InvalidArgumentError('need 1 ≤ --min-workers ≤ --max-workers');
      const cluster = new LocalCluster({ ...opts, autoscaleWindowS: opts.autoscaleWindow, log: (line: string) => console.log(`pareto cluster: ${line}`) });
      await cluster.up();
      console.log(`http_port=${cluster.gateways[0].httpPort}`);
      console.log(`grpc_port=${cluster.gateways[0].grpcPort}`);
      console.log(`pareto cluster up: ${cluster.gateways.length} gateway(s), ${cluster.workers.length} worker(s), Redis at ${cluster.redisUrl}`);
      const stop = (signal: string) => {
        console.log(`pareto cluster: ${signal}, stopping gateways, then workers, then Redis`);
        void cluster.down().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  return new Command('cluster').description('Run a Pareto cluster on this machine').addCommand(up);
}
