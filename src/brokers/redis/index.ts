/**
 * redis:// and rediss:// — the Redis broker, in kombu's exact layout so Python Celery 5.x clients and
 * workers share queues with Celeriac (celery-wire.md §2; keys in drivers/redis/keys.ts).
 *
 * | feature              | support |
 * |----------------------|---------|
 * | priorities           | 0–9 in buckets 0/3/6/9 (`\x06\x16` separator), 0 served first, priority-major across queues |
 * | prefetch             | emulated (VirtualBroker QoS), BRPOP only while the window has room |
 * | idle consumers       | one BRPOP per second per consumer, no polling |
 * | ack                  | `unacked` hash + `unacked_index` zset, written by the same Lua script that pops |
 * | unacked restore      | on close (front of the queue) and by visibility timeout (default 3600 s) for dead consumers |
 * | long ETAs            | held messages have their lease renewed, so they never run twice (celery/celery#2599) |
 * | reconnect            | forever, 50 ms → 5 s backoff with jitter; consumption resumes (celery/celery#8030) |
 * | fanout               | PUB/SUB on `[prefix]/{db}.<exchange>[/<routing_key>]` (./fanout.ts) |
 * | broadcast            | events and pidbox over that PUB/SUB (topic rules checked per subscriber); replies LPUSHed to the queues of `_kombu.binding.reply.celery.pidbox` whose routing key is the client's oid, read by BRPOP on a connection of their own; closing a reply queue SREMs its binding and deletes its list (./broadcast.ts) |
 * | TLS                  | rediss://, `ssl_cert_reqs`, `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile` query options |
 *
 * URL: `redis://[[user]:password@]host[:port][/db][?visibility_timeout=…&global_keyprefix=…]`
 * Options (URL query in snake_case, or brokerTransportOptions in camelCase): see ./options.ts.
 *
 * Deliberate differences from kombu, each for a reason:
 *  - leases: held messages are renewed, so visibility_timeout only bounds how long a dead consumer's
 *    messages wait (kombu re-delivers anything held longer, running long ETAs twice);
 *  - the pop and the unacked bookkeeping are one Lua script (kombu: two round trips, a message is lost if
 *    the worker dies in between). Only a message taken by BRPOP after an idle wait passes through our
 *    memory for one round trip; it is retried through connection errors and pushed back on close;
 *  - reject(requeue) RPUSHes to the front (kombu LPUSHes to the back) as the Broker contract asks;
 *  - a restore whose exchange has no matching binding goes to the queue named by the routing key (kombu
 *    drops it with a warning);
 *  - restores go to the message's priority bucket (as kombu ≥ 5.3; 5.2 used bucket 0).
 */

import { parseRedisUrl, resolveOptions } from '../../drivers/redis/connection.js';
import { VirtualBroker } from '../virtual.js';
import { type RedisBrokerOptions, redisBrokerDefaults, validateBrokerOptions } from './options.js';
import { RedisStore } from './store.js';

export { BrokerKeys, priorityStep } from '../../drivers/redis/keys.js';
export { RedisBroadcast } from './broadcast.js';
export type { FanoutHandler, FanoutMessage } from './fanout.js';
export { RedisFanout } from './fanout.js';
export type { RedisBrokerOptions } from './options.js';
export { redisBrokerDefaults } from './options.js';
export { RedisStore } from './store.js';

/** TLS options in the URL belong to the connection, not to the transport options. */
const URL_ONLY = new Set(['ssl_cert_reqs', 'ssl_ca_certs', 'ssl_certfile', 'ssl_keyfile']);

export function redisBrokerOptions(url: URL, given: Record<string, unknown> = {}): RedisBrokerOptions {
  const target = parseRedisUrl(url);
  const o = resolveOptions('Redis broker', redisBrokerDefaults, target.query, given, URL_ONLY);
  validateBrokerOptions(o);
  return o;
}

export function createRedisStore(url: URL, options: Record<string, unknown> = {}): RedisStore {
  const target = parseRedisUrl(url);
  return new RedisStore(target, redisBrokerOptions(url, options), url.protocol.replace(/:$/, ''));
}

export function createRedisBroker(url: URL, options: Record<string, unknown> = {}): VirtualBroker {
  return new VirtualBroker(createRedisStore(url, options));
}
