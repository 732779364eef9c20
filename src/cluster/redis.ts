// The Redis connection every cluster role uses: commands fail fast while Redis is away (no
// offline queue, a short command timeout), and the client reconnects on its own, so callers can
// fall back at once and recover when it returns.
import { Redis } from 'ioredis';

export const KEY_PREFIX = 'pareto:';

export function connectRedis(url: string, onState?: (up: boolean) => void): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 500,
    connectTimeout: 1000,
    lazyConnect: false,
    retryStrategy: () => 250,
  });
  // Without a listener ioredis prints every failed reconnect; the roles report state changes once.
  redis.on('error', () => undefined);
  if (onState) {
    redis.on('ready', () => onState(true));
    redis.on('close', () => onState(false));
  }
  return redis;
}
