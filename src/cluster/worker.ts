// `pareto worker`: a one-node server (executors, batching, the protocol on REST and gRPC, the load
// report) that also announces itself in Redis so gateways find it. Alone it is a usable
// inference server; SIGTERM leaves membership first, then finishes what it holds.
import { hostname } from 'node:os';
import { startServer, type RunningServer, type ServerOptions } from '../server.js';
import { announce } from './membership.js';
import { connectRedis } from './redis.js';

export interface WorkerOptions extends ServerOptions {
  /** redis://host:port to announce in; absent: gateways must list this worker statically. */
  redis?: string;
  /** The host gateways reach this worker at (default: --host, or this machine's name for 0.0.0.0). */
  advertiseHost?: string;
}

export interface RunningWorker extends RunningServer {
  /** host:port that gateways call. */
  address: string;
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const { redis: redisUrl, advertiseHost, ...serverOpts } = opts;
  const server = await startServer(serverOpts);
  const host = advertiseHost ?? (serverOpts.host && serverOpts.host !== '0.0.0.0' ? serverOpts.host : hostname());
  const address = `${host}:${server.grpcPort}`;
  const redis = redisUrl ? connectRedis(redisUrl) : undefined;
  const log = server.telemetry.log;
  const announced = redis ? announce(redis, 'worker', { id: server.workerId, grpc: address, http: `http://${host}:${server.httpPort}` }, 500, (level, msg, fields) => log[level](fields, msg)) : undefined;
  let closing: Promise<void> | undefined;
  return {
    ...server, address,
    close() {
      closing ??= (async () => {
        await announced?.stop();
        await server.close();
        redis?.disconnect();
      })();
      return closing;
    },
  };
}
