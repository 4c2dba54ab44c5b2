/**
 * Broadcast on Redis (../broadcast.ts), in kombu's layout so Python Celery peers read what we send and we
 * read theirs (celery-wire.md §2.3, §2.4, §6.1):
 *
 *   publish/subscribe  PUB/SUB through ./fanout.ts, whatever the exchange type: Celery makes `celeryev`
 *                      fanout on Redis and `celery.pidbox` is fanout everywhere. The PSUBSCRIBE pattern
 *                      (`#` → `*`) is wider than a topic binding (`*` is one word), so each subscription
 *                      also filters with bindingMatches.
 *   reply              SMEMBERS `_kombu.binding.<exchange>`, then LPUSH the kombu envelope to the list of
 *                      every queue whose routing key equals ours (kombu's direct exchange). No binding: the
 *                      reply is dropped, as kombu drops it (InconsistencyError, caught by pidbox).
 *   replyQueue         SADD `<oid>\x06\x16\x06\x16<queue>` to that set, BRPOP the queue's lists on a
 *                      connection of its own; close SREMs the member and DELetes the lists, as kombu's
 *                      `after_reply_message_received` → queue_delete does for a Python client.
 *
 * global_keyprefix and the db apply through BrokerKeys, as for task queues.
 */
import type { Redis } from 'ioredis';
import { brokerError, execPipeline, reconnectDelay } from '../../drivers/redis/connection.js';
import type { WireMessage } from '../../protocol/message.js';
import {
  type Broadcast,
  type BroadcastHandler,
  bindingMatches,
  type Exchange,
  type SubscribeOptions,
  type Subscription,
} from '../broadcast.js';
import { buildEnvelope, parseEnvelope } from './envelope.js';
import { RedisFanout, type RedisHost } from './fanout.js';

/** BRPOP timeout of a reply queue's loop (kombu's brpop_timeout): how soon it notices a close. */
const REPLY_POLL_S = 1;

export class RedisBroadcast implements Broadcast {
  readonly #store: RedisHost;
  readonly #fanout: RedisFanout;
  readonly #replyQueues = new Set<Subscription>();

  constructor(store: RedisHost) {
    this.#store = store;
    this.#fanout = new RedisFanout(store);
    this.#fanout.onError = (err) => store.onError(err);
  }

  async publish(exchange: Exchange, routingKey: string, message: WireMessage): Promise<void> {
    await this.#fanout.publish(exchange.name, routingKey, message);
  }

  async subscribe(
    exchange: Exchange,
    bindingKey: string,
    handler: BroadcastHandler,
    options: SubscribeOptions,
  ): Promise<Subscription> {
    const onError = options.onError ?? ((err: Error) => this.#store.onError(err));
    const stop = await this.#fanout.subscribe(
      exchange.name,
      bindingKey,
      (m) => {
        if (m.exchange === exchange.name && bindingMatches(exchange.type, bindingKey, m.routingKey))
          handler(m);
      },
      onError,
    );
    return { close: stop };
  }

  async reply(exchange: string, routingKey: string, message: WireMessage): Promise<void> {
    const keys = this.#store.keys;
    const what = `reply to ${exchange}/${routingKey}`;
    let members: string[];
    try {
      members = await this.#store.client.smembers(keys.binding(exchange));
    } catch (err) {
      throw brokerError(what, err);
    }
    const queues = new Set<string>();
    for (const m of members) {
      const b = keys.parseBindingMember(m);
      if (b.routingKey === routingKey && b.queue) queues.add(b.queue);
    }
    if (!queues.size) return;
    const env = JSON.stringify(buildEnvelope(message, exchange, routingKey));
    const pipe = this.#store.client.pipeline();
    for (const q of queues) pipe.lpush(keys.queue(q, message.properties.priority), env);
    await execPipeline(pipe, what);
  }

  async replyQueue(
    exchange: string,
    routingKey: string,
    queue: string,
    handler: BroadcastHandler,
    options: { expiresMs?: number; onError?: (err: Error) => void } = {},
  ): Promise<Subscription> {
    const keys = this.#store.keys;
    const onError = options.onError ?? ((err: Error) => this.#store.onError(err));
    const member = keys.bindingMember(routingKey, queue);
    const lists = keys.buckets(queue);
    try {
      await this.#store.client.sadd(keys.binding(exchange), member);
    } catch (err) {
      throw brokerError(`declaring reply queue ${queue}`, err);
    }
    let conn: Redis;
    try {
      conn = await this.#store.newConnection('blocking');
    } catch (err) {
      await this.#store.client.srem(keys.binding(exchange), member).catch(() => {});
      throw err;
    }
    let closed = false;
    const loop = (async () => {
      for (let attempt = 0; !closed; ) {
        let popped: [string, string] | null;
        try {
          popped = (await conn.brpop(...lists, REPLY_POLL_S)) as [string, string] | null;
          attempt = 0;
        } catch (err) {
          if (closed) return;
          onError(brokerError(`reading reply queue ${queue}; retrying`, err));
          await new Promise((r) => setTimeout(r, reconnectDelay(++attempt)));
          continue;
        }
        if (!popped || closed) continue;
        try {
          const parsed = parseEnvelope(popped[1]);
          handler({ exchange, routingKey: parsed.routingKey || routingKey, message: parsed.message });
        } catch (err) {
          onError(brokerError(`reply on ${queue} could not be handled`, err));
        }
      }
    })();
    const sub: Subscription = {
      close: async () => {
        if (closed) return;
        closed = true;
        this.#replyQueues.delete(sub);
        conn.disconnect();
        await loop;
        const cmd = this.#store.client;
        await cmd
          .multi()
          .srem(keys.binding(exchange), member)
          .del(...lists)
          .exec()
          .catch((err: unknown) => onError(brokerError(`deleting reply queue ${queue}`, err)));
      },
    };
    this.#replyQueues.add(sub);
    return sub;
  }

  /** Ends every subscription and reply queue (the store is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.#replyQueues].map((s) => s.close().catch(() => {})));
    await this.#fanout.close();
  }
}
