/**
 * The visibility-timeout restore: a periodic scan under kombu's `unacked_mutex` that gives back the
 * deliveries whose holder stopped renewing their lease (a dead Celeriac consumer, or a kombu consumer
 * past the visibility timeout). Its own module because it acts on other consumers' deliveries, never on
 * the store's own (those are kept alive by ./lease.ts), and carries kombu's exchange lookup with it.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { brokerError } from '../../drivers/redis/connection.js';
import type { BrokerKeys } from '../../drivers/redis/keys.js';
import { runScript } from '../../drivers/redis/scripts.js';
import { parseUnackedEntry, restorable } from './envelope.js';
import { nowSeconds } from './lease.js';
import type { RedisBrokerOptions } from './options.js';
import { RELEASE_MUTEX, RESTORE_STALE } from './scripts.js';

/** What a restore needs of the store: its command connection, key layout, options and error channel. */
export interface RestoreHost {
  readonly client: Redis;
  readonly keys: BrokerKeys;
  readonly options: Readonly<RedisBrokerOptions>;
  onError(err: Error): void;
}

/**
 * Give back deliveries whose holder stopped renewing them for a visibility timeout. Runs under kombu's
 * `unacked_mutex` so only one consumer of the database scans at a time (kombu skips when it is held).
 * `held` are the store's own deliveries (never restored); `reported` the unacked entries already
 * reported as beyond repair (reported once, not at every scan). Returns how many messages were restored.
 */
export async function restoreTimedOut(
  host: RestoreHost,
  held: ReadonlyMap<string, unknown>,
  reported: Set<string>,
): Promise<number> {
  const token = randomUUID();
  const got = await host.client.set(
    host.keys.unackedMutex,
    token,
    'PX',
    host.options.unackedMutexExpire * 1000,
    'NX',
  );
  if (got !== 'OK') return 0;
  let restored = 0;
  try {
    const ceil = nowSeconds(-host.options.visibilityTimeout);
    const stale = (
      await host.client.zrangebyscore(
        host.keys.unackedIndex,
        0,
        ceil,
        'LIMIT',
        0,
        host.options.unackedRestoreLimit,
      )
    ).filter((t) => !held.has(t));
    if (!stale.length) return 0;
    const values = await host.client.hmget(host.keys.unacked, ...stale);
    const bindings = new Map<string, string[]>();
    for (const [i, tag] of stale.entries()) {
      const value = values[i];
      if (value == null) {
        await host.client.zrem(host.keys.unackedIndex, tag);
        continue;
      }
      let entry: ReturnType<typeof parseUnackedEntry>;
      try {
        entry = parseUnackedEntry(value);
      } catch (err) {
        // Not written by a take script (ours or kombu's): there is no telling where it belongs.
        if (!reported.has(tag)) {
          reported.add(tag);
          host.onError(
            brokerError(`unacked entry ${tag} is not [envelope, exchange, routing_key]; left in place`, err),
          );
        }
        continue;
      }
      const queues = await lookup(host, entry.exchange, entry.routingKey, bindings);
      const priority = entry.envelope?.properties?.priority;
      const dest = queues.map((q) => host.keys.queue(q, priority));
      const n = await runScript(
        host.client,
        RESTORE_STALE,
        [host.keys.unacked, host.keys.unackedIndex, ...dest],
        [tag, ceil, restorable(entry, tag)],
      );
      restored += Number(n);
    }
  } finally {
    await runScript(host.client, RELEASE_MUTEX, [host.keys.unackedMutex], [token]).catch(() => {});
  }
  return restored;
}

/**
 * kombu's exchange lookup for a restore: the anonymous exchange routes by queue name; a named exchange
 * by its binding set (direct match on the routing key). Where kombu would drop an unroutable message
 * (no binding, no dead-letter queue), we use the routing key as the queue name instead: Celery's routing
 * keys are queue names, and a lost task is worse than a misrouted one.
 */
async function lookup(
  host: RestoreHost,
  exchange: string,
  routingKey: string,
  cache: Map<string, string[]>,
): Promise<string[]> {
  if (!exchange) return [routingKey];
  let members = cache.get(exchange);
  if (!members) {
    members = await host.client.smembers(host.keys.binding(exchange));
    cache.set(exchange, members);
  }
  const queues = new Set<string>();
  for (const m of members) {
    const b = host.keys.parseBindingMember(m);
    if (b.routingKey === routingKey && b.queue) queues.add(b.queue);
  }
  return queues.size ? [...queues] : [routingKey];
}
