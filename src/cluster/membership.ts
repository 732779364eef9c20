// Who is in the cluster. Workers announce themselves in Redis (a key with a TTL, refreshed by a
// heartbeat, indexed in a set) and disappear when the heartbeat stops; gateways announce
// themselves the same way so each knows how many share a rate limit. A static list stands in for
// Redis (Kubernetes headless services, tests).
import type { Redis } from 'ioredis';
import { KEY_PREFIX, reconnectIfTimedOut } from './redis.js';

export type Role = 'worker' | 'gateway';

export interface Member {
  id: string;
  /** gRPC address, host:port. */
  grpc?: string;
  /** REST origin (http://host:port). */
  http?: string;
}

const indexKey = (role: Role) => `${KEY_PREFIX}${role}s`;
const memberKey = (role: Role, id: string) => `${KEY_PREFIX}${role}:${id}`;

/** Where `announce` reports its heartbeats failing and working again. */
export type HeartbeatLog = (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void;

/**
 * Keeps `member` registered while running: SET with a TTL every `intervalMs` (the TTL is three
 * intervals, so one lost beat is harmless). Redis being away only delays the next beat; the first
 * failed beat and the first one after are logged (a member whose key expired is still serving,
 * and its operator needs to know why gateways may not find it).
 */
export function announce(redis: Redis, role: Role, member: Member, intervalMs = 500, log: HeartbeatLog = () => undefined): { stop(): Promise<void> } {
  let failedSince: number | undefined;
  let failed = 0;
  const beat = () => redis.multi()
    .set(memberKey(role, member.id), JSON.stringify(member), 'PX', intervalMs * 3)
    .sadd(indexKey(role), member.id)
    .exec()
    .then(() => {
      if (failedSince === undefined) return;
      log('info', 'heartbeat to Redis works again', { role, id: member.id, failed_beats: failed, failed_ms: Date.now() - failedSince });
      failedSince = undefined;
      failed = 0;
    }, (e: Error) => {
      reconnectIfTimedOut(redis, e);
      failed++;
      if (failedSince !== undefined) return;
      failedSince = Date.now();
      log('warn', 'heartbeat to Redis failed: gateways may drop this member from membership until it works again', { role, id: member.id, error: e.message });
    });
  // At once whenever the connection is (re)made: a member back from a partition reappears without
  // waiting for the next interval.
  if (redis.status === 'ready') void beat();
  redis.on('ready', beat);
  const timer = setInterval(beat, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      redis.off('ready', beat);
      await redis.multi().del(memberKey(role, member.id)).srem(indexKey(role), member.id).exec().catch(() => undefined);
    },
  };
}

/** The live members of a role; members whose key expired are dropped from the index too. */
export async function liveMembers(redis: Redis, role: Role): Promise<Member[]> {
  const ids = await redis.smembers(indexKey(role));
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => memberKey(role, id)));
  const gone = ids.filter((_, i) => values[i] === null);
  if (gone.length) await redis.srem(indexKey(role), ...gone);
  return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Member);
}

export interface MembershipSource {
  /** Calls `onChange` with the full member list whenever it may have changed. */
  watch(onChange: (members: Member[]) => void): void;
  stop(): void;
}

/** `http://host:port` entries are reached over REST, `host:port` ones over gRPC. */
export function staticMembership(addresses: string[]): MembershipSource {
  return {
    watch: (onChange) => onChange(addresses.map((a) => (/^https?:\/\//.test(a) ? { id: a, http: a } : { id: a, grpc: a }))),
    stop: () => undefined,
  };
}

/**
 * Polls Redis. While Redis is unreachable the last known list stands (workers keep serving); for a
 * heartbeat TTL after it answers again, members are only added, since a restarted Redis has lost
 * every key and each live member needs one beat to reappear.
 */
export function redisMembership(redis: Redis, role: Role, intervalMs = 500, ttlMs = 1500): MembershipSource {
  let timer: NodeJS.Timeout | undefined;
  let last: Member[] = [];
  let failed = false;
  let graceUntil = 0;
  return {
    watch(onChange) {
      // A (re)connection may be to a Redis that restarted between two polls.
      redis.on('ready', () => { failed = true; });
      const poll = () => liveMembers(redis, role).then((members) => {
        if (failed) graceUntil = Date.now() + ttlMs;
        failed = false;
        if (Date.now() < graceUntil) members = [...members, ...last.filter((m) => !members.some((n) => n.id === m.id))];
        last = members;
        onChange(members);
      }, (e: Error) => {
        reconnectIfTimedOut(redis, e);
        failed = true;
      });
      void poll();
      timer = setInterval(poll, intervalMs);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  };
}
