/**
 * Redis beat store, RedBeat's design: the lease is one key taken with `SET NX PX` (expiry by the server's
 * clock), renewed and released by scripts that first check the token (fenced), and every claim is a
 * script that checks the lease token, the entry's last run and the slot's claim key in one atomic step.
 * Keys: drivers/redis/keys.ts (BeatKeys), under the broker's global_keyprefix.
 *
 * The connection is a 'command' client (drivers/redis/connection.ts): commands sent while the link is
 * down wait and go out after the reconnect, and commands in flight are resent; every script here is
 * idempotent for that reason (a resent claim of our own slot answers 'claimed' again).
 */
import type { Redis } from 'ioredis';
import {
  brokerError,
  connectClient,
  loadIoredis,
  newClient,
  quit,
  type RedisTarget,
} from '../drivers/redis/connection.js';
import { BeatKeys } from '../drivers/redis/keys.js';
import { defineScript, runScript } from '../drivers/redis/scripts.js';
import { type BeatStore, CLAIM_RETENTION_MS, type ClaimResult } from './store.js';

/** KEYS[1] lease. ARGV[1] token, ARGV[2] ttl ms. Returns 1 when extended, 0 when the lease is not ours. */
const RENEW = defineScript(
  'beat-renew',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`,
);

/** KEYS[1] lease. ARGV[1] token. Deletes the lease only when it is ours; returns 1 when deleted. */
const RELEASE = defineScript(
  'beat-release',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
);

/**
 * KEYS[1] lease, KEYS[2] last-run hash, KEYS[3] the slot's claim key.
 * ARGV[1] token, ARGV[2] entry name, ARGV[3] due (epoch ms), ARGV[4] claim retention ms.
 * Returns 1 claimed (now, or earlier by this token), 0 taken (by another, or not after the last run),
 * -1 the lease is not ours.
 */
const CLAIM = defineScript(
  'beat-claim',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local owner = redis.call('GET', KEYS[3])
if owner then
  if owner == ARGV[1] then return 1 end
  return 0
end
local last = redis.call('HGET', KEYS[2], ARGV[2])
if last and tonumber(last) >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`,
);

/** KEYS[1] lease, KEYS[2] last-run hash. ARGV[1] token, ARGV[2] entry, ARGV[3] at. HSETNX, fenced; -1 not ours. */
const BASELINE = defineScript(
  'beat-baseline',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3])
return 1`,
);

/** KEYS[1] lease, KEYS[2] last-run hash. ARGV[1] token, ARGV[2..] entries to drop. Fenced; -1 not ours. */
const PRUNE = defineScript(
  'beat-prune',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 2, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
return 1`,
);

export class RedisBeatStore implements BeatStore {
  readonly kind = 'redis';
  readonly keys: BeatKeys;
  readonly #target: RedisTarget;
  #client: Redis | null = null;

  constructor(target: RedisTarget, keyPrefix: string) {
    this.#target = target;
    this.keys = new BeatKeys(keyPrefix);
  }

  async connect(): Promise<void> {
    if (this.#client) return;
    const Ctor = await loadIoredis();
    const c = newClient(Ctor, this.#target, 'command', { socketConnectTimeout: null, clientName: null });
    await connectClient(c, this.#target, 'beat store');
    this.#client = c;
  }

  get #c(): Redis {
    if (!this.#client) throw brokerError('beat store', new Error('not connected'));
    return this.#client;
  }

  async #run(what: string, fn: (c: Redis) => Promise<unknown>): Promise<unknown> {
    try {
      return await fn(this.#c);
    } catch (err) {
      throw brokerError(`beat store ${what}`, err);
    }
  }

  async acquire(token: string, ttlMs: number): Promise<boolean> {
    const set = await this.#run('acquire', (c) => c.set(this.keys.lease, token, 'PX', ttlMs, 'NX'));
    return set === 'OK' || this.renew(token, ttlMs);
  }

  async renew(token: string, ttlMs: number): Promise<boolean> {
    return (await this.#run('renew', (c) => runScript(c, RENEW, [this.keys.lease], [token, ttlMs]))) === 1;
  }

  async release(token: string): Promise<void> {
    await this.#run('release', (c) => runScript(c, RELEASE, [this.keys.lease], [token]));
  }

  async holder(): Promise<string | null> {
    return (await this.#run('holder', (c) => c.get(this.keys.lease))) as string | null;
  }

  async lastRuns(): Promise<Map<string, number>> {
    const h = (await this.#run('lastRuns', (c) => c.hgetall(this.keys.last))) as Record<string, string>;
    return new Map(Object.entries(h).map(([k, v]) => [k, Number(v)]));
  }

  async baseline(token: string, entry: string, at: number): Promise<boolean> {
    const r = await this.#run('baseline', (c) =>
      runScript(c, BASELINE, [this.keys.lease, this.keys.last], [token, entry, at]),
    );
    return r === 1;
  }

  async claim(token: string, entry: string, due: number): Promise<ClaimResult> {
    const r = await this.#run('claim', (c) =>
      runScript(
        c,
        CLAIM,
        [this.keys.lease, this.keys.last, this.keys.claim(entry, due)],
        [token, entry, due, CLAIM_RETENTION_MS],
      ),
    );
    return r === 1 ? 'claimed' : r === 0 ? 'taken' : 'not-leader';
  }

  async prune(token: string, keep: readonly string[]): Promise<string[]> {
    const k = new Set(keep);
    const drop = [...(await this.lastRuns()).keys()].filter((n) => !k.has(n));
    if (!drop.length) return [];
    const r = await this.#run('prune', (c) =>
      runScript(c, PRUNE, [this.keys.lease, this.keys.last], [token, ...drop]),
    );
    return r === 1 ? drop : [];
  }

  async close(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    if (c) await quit(c);
  }
}
