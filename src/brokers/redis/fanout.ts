/**
 * Fanout exchanges over Redis PUB/SUB, as kombu does them (celery-wire.md §2.4): fire-and-forget, no
 * persistence, no ack. Celery's events (`celeryev`) and remote control (`celery.pidbox`) use them.
 *
 *   publish:    PUBLISH [prefix]/{db}.<exchange>[/<routing_key>]  <kombu envelope>
 *   subscribe:  PSUBSCRIBE [prefix]/{db}.<exchange>[/<binding key with # → *>]
 *
 * One subscriber connection per RedisFanout, shared by all its subscriptions; ioredis re-subscribes after
 * a reconnect (messages published meanwhile are lost, as with kombu).
 */
import type { Redis } from 'ioredis';
import { brokerError, quit } from '../../drivers/redis/connection.js';
import type { BrokerKeys } from '../../drivers/redis/keys.js';
import type { WireMessage } from '../../protocol/message.js';
import type { Logger } from '../../util/log.js';
import { buildEnvelope, parseEnvelope } from './envelope.js';

/**
 * What fanout and broadcast need of the Redis store (store.ts implements it): its command connection,
 * key layout, logger and error channel, and new connections for subscribers and blocking reads. An
 * interface, so the store can own its broadcast without the two importing each other.
 */
export interface RedisHost {
  readonly client: Redis;
  readonly keys: BrokerKeys;
  readonly logger: Logger;
  onError(err: Error): void;
  newConnection(role: 'command' | 'blocking' | 'subscriber'): Promise<Redis>;
}

export interface FanoutMessage {
  exchange: string;
  routingKey: string;
  message: WireMessage;
}

export type FanoutHandler = (m: FanoutMessage) => void;

interface Entry {
  handler: FanoutHandler;
  onError: ((err: Error) => void) | undefined;
}

export class RedisFanout {
  readonly #store: RedisHost;
  #sub: Promise<Redis> | null = null;
  readonly #handlers = new Map<string, Set<Entry>>();
  readonly #ready = new Map<string, Promise<void>>();
  /** Called when a received message is not a kombu envelope; the store's logger by default. */
  onError: (err: Error) => void = (err) => this.#store.logger.log('warn', `Redis fanout: ${err.message}`);

  constructor(store: RedisHost) {
    this.#store = store;
  }

  /** Publish to every current subscriber of the exchange (none: the message is gone, as on kombu). */
  async publish(exchange: string, routingKey: string, message: WireMessage): Promise<number> {
    const env = buildEnvelope(message, exchange, routingKey);
    try {
      return await this.#store.client.publish(
        this.#store.keys.fanoutChannel(exchange, routingKey),
        JSON.stringify(env),
      );
    } catch (err) {
      throw brokerError(`fanout publish to ${exchange}`, err);
    }
  }

  /**
   * Receive what is published on `exchange` with a routing key matching `bindingKey` (`#` and `*` match
   * any suffix; '' receives only messages published without a routing key). Resolves once subscribed, with
   * the function that ends the subscription. An undecodable message on the pattern goes to `onError`
   * (the store-wide onError when absent); a handler that throws does not keep the others from running.
   */
  async subscribe(
    exchange: string,
    bindingKey: string,
    handler: FanoutHandler,
    onError?: (err: Error) => void,
  ): Promise<() => Promise<void>> {
    const pattern = this.#store.keys.fanoutPattern(exchange, bindingKey);
    const sub = await this.#subscriber();
    let set = this.#handlers.get(pattern);
    if (!set) {
      set = new Set();
      this.#handlers.set(pattern, set);
    }
    const entry: Entry = { handler, onError };
    set.add(entry);
    // One PSUBSCRIBE per pattern, awaited by every subscribe() of that pattern: a second subscriber
    // must not resolve before the first one's PSUBSCRIBE is done.
    let ready = this.#ready.get(pattern);
    if (!ready) {
      ready = sub.psubscribe(pattern).then(() => {});
      this.#ready.set(pattern, ready);
    }
    try {
      await ready;
    } catch (err) {
      this.#ready.delete(pattern);
      set.delete(entry);
      if (!set.size) this.#handlers.delete(pattern);
      throw brokerError(`PSUBSCRIBE ${pattern}`, err);
    }
    return async () => {
      const s = this.#handlers.get(pattern);
      if (!s?.delete(entry) || s.size) return;
      this.#handlers.delete(pattern);
      this.#ready.delete(pattern);
      await sub.punsubscribe(pattern).catch(() => {});
    };
  }

  #subscriber(): Promise<Redis> {
    this.#sub ??= this.#store.newConnection('subscriber').then((sub) => {
      sub.on('pmessage', (pattern: string, channel: string, data: string) => {
        const handlers = this.#handlers.get(pattern);
        if (!handlers?.size) return;
        let parsed: ReturnType<typeof parseEnvelope>;
        try {
          parsed = parseEnvelope(data);
        } catch (err) {
          const e = brokerError(`undecodable fanout message on ${channel}`, err);
          for (const h of handlers) (h.onError ?? this.onError)(e);
          return;
        }
        const { exchange, routingKey } = this.#store.keys.parseFanoutChannel(channel);
        const m = { exchange, routingKey: parsed.routingKey || routingKey, message: parsed.message };
        for (const h of [...handlers]) {
          try {
            h.handler(m);
          } catch (err) {
            (h.onError ?? this.onError)(brokerError(`a fanout handler on ${channel} threw`, err));
          }
        }
      });
      return sub;
    });
    this.#sub.catch(() => {
      this.#sub = null;
    });
    return this.#sub;
  }

  async close(): Promise<void> {
    const sub = this.#sub;
    this.#sub = null;
    this.#handlers.clear();
    this.#ready.clear();
    const conn = sub ? await sub.catch(() => null) : null;
    if (conn) await quit(conn);
  }
}
