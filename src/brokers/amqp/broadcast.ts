/**
 * Broadcast on RabbitMQ (../broadcast.ts): real exchanges and queues, declared with exactly Celery 5.2's
 * arguments, because RabbitMQ closes the channel of a declaration that differs from the existing entity
 * and a Python worker, `celery events` or Flower may have declared it first (celery-wire.md §3.1):
 *
 *   exchange  celeryev               topic, durable            (Exchange.durable; default: topic → durable)
 *   exchange  celery.pidbox          fanout, not durable
 *   exchange  reply.celery.pidbox    direct, not durable       (kombu's _publish_reply declares it so)
 *   queue     celeryev.<uuid>        not durable, auto-delete, x-message-ttl 5000, x-expires 60000
 *   queue     <node>.celery.pidbox   not durable, auto-delete, x-message-ttl 300000, x-expires 10000
 *   queue     <oid>.reply.celery.pidbox  not durable, auto-delete, x-message-ttl 300000, x-expires 10000
 *
 * The TTLs come from the caller (SubscribeOptions: Celery's event_queue_ttl/expires, control_queue_ttl/
 * expires); reply queues default to Celery's control values. None is exclusive, as in Celery 5.2.
 *
 * Everything shares the broker's connection (AmqpLink): declarations on its admin channel, publishes and
 * replies on one plain channel of their own (fire-and-forget, no confirms: kombu sends events and control
 * messages without them), one channel per subscription and reply queue, consumed with no_ack as Celery
 * does. After a reconnect (the link's onUp) every subscription declares, binds and consumes again; a channel
 * the server closed while the connection stayed up is reopened after a second.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { type AmqpLink, ChannelSlot, drained } from '../../drivers/amqp/link.js';
import { toFieldTable } from '../../drivers/amqp/table.js';
import { BrokerError } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import {
  type Broadcast,
  type BroadcastHandler,
  bindingMatches,
  type Exchange,
  type SubscribeOptions,
  type Subscription,
} from '../broadcast.js';
import { publishOptions, wireMessage } from './message.js';

/** Celery's control_queue_ttl and control_queue_expires, the reply queue's defaults. */
const REPLY_TTL_MS = 300_000;
const REPLY_EXPIRES_MS = 10_000;
const CHANNEL_RETRY_MS = 1000;

type ExchangeSpec = { name: string; type: 'fanout' | 'topic' | 'direct'; durable: boolean };

const spec = (e: Exchange): ExchangeSpec => ({
  name: e.name,
  type: e.type,
  // celeryev (topic) is durable, celery.pidbox (fanout) is not: Celery's own declarations.
  durable: e.durable ?? e.type === 'topic',
});

function queueArguments(ttlMs?: number, expiresMs?: number): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (ttlMs !== undefined) args['x-message-ttl'] = Math.round(ttlMs);
  if (expiresMs !== undefined) args['x-expires'] = Math.round(expiresMs);
  return args;
}

export class AmqpBroadcast implements Broadcast {
  readonly #link: AmqpLink;
  readonly #publisher: ChannelSlot<Channel>;
  /** Exchanges declared on the current connection. */
  #declared = new Map<string, Promise<void>>();
  readonly #subs = new Set<AmqpSubscription>();
  /** Set while the publish channel's socket is full: every publish waits on this one promise. */
  #draining: Promise<void> | null = null;

  constructor(link: AmqpLink) {
    this.#link = link;
    this.#publisher = new ChannelSlot(() => link.channel());
    link.onUp(() => {
      this.#declared = new Map();
      this.#publisher.reset();
    });
  }

  #declare(e: ExchangeSpec): Promise<void> {
    let p = this.#declared.get(e.name);
    if (!p) {
      p = this.#link
        .admin((ch) => ch.assertExchange(e.name, e.type, { durable: e.durable, autoDelete: false }))
        .then(() => {});
      this.#declared.set(e.name, p);
      p.catch(() => this.#declared.delete(e.name));
    }
    return p.catch((err) => {
      throw new BrokerError(
        `declaring exchange "${e.name}" (${e.type}, durable ${e.durable}) failed: ${(err as Error).message}`,
        { retryable: false, cause: err },
      );
    });
  }

  async #send(e: ExchangeSpec, routingKey: string, message: WireMessage): Promise<void> {
    await this.#declare(e);
    const ch = await this.#publisher.get();
    if (this.#draining) await this.#draining;
    let writable: boolean;
    try {
      writable = ch.publish(e.name, routingKey, message.body, publishOptions(message));
    } catch (err) {
      throw new BrokerError(`publish to ${e.name} failed: ${(err as Error).message}`, {
        retryable: true,
        cause: err,
      });
    }
    // Back-pressure: the frame is buffered but the socket is full; a burst of events waits here instead
    // of growing amqplib's buffer without bound.
    if (!writable) {
      this.#draining ??= drained(ch).finally(() => {
        this.#draining = null;
      });
      await this.#draining;
    }
  }

  publish(exchange: Exchange, routingKey: string, message: WireMessage): Promise<void> {
    return this.#send(spec(exchange), routingKey, message);
  }

  reply(exchange: string, routingKey: string, message: WireMessage): Promise<void> {
    return this.#send({ name: exchange, type: 'direct', durable: false }, routingKey, message);
  }

  async subscribe(
    exchange: Exchange,
    bindingKey: string,
    handler: BroadcastHandler,
    options: SubscribeOptions,
  ): Promise<Subscription> {
    const e = spec(exchange);
    const args = queueArguments(options.messageTtlMs, options.expiresMs);
    return this.#open(options.queue, e, bindingKey, args, options.onError, false, (m) => {
      const routingKey = m.fields.routingKey;
      if (bindingMatches(exchange.type, bindingKey, routingKey))
        handler({ exchange: exchange.name, routingKey, message: wireMessage(m) });
    });
  }

  async replyQueue(
    exchange: string,
    routingKey: string,
    queue: string,
    handler: BroadcastHandler,
    options: { expiresMs?: number; onError?: (err: Error) => void } = {},
  ): Promise<Subscription> {
    const e: ExchangeSpec = { name: exchange, type: 'direct', durable: false };
    const args = queueArguments(REPLY_TTL_MS, options.expiresMs ?? REPLY_EXPIRES_MS);
    return this.#open(queue, e, routingKey, args, options.onError, true, (m) =>
      handler({ exchange, routingKey: m.fields.routingKey, message: wireMessage(m) }),
    );
  }

  async #open(
    queue: string,
    e: ExchangeSpec,
    bindingKey: string,
    args: Record<string, unknown>,
    onError: ((err: Error) => void) | undefined,
    deleteOnClose: boolean,
    deliver: (m: ConsumeMessage) => void,
  ): Promise<Subscription> {
    const report = onError ?? ((err: Error) => this.#link.onError(err));
    const setup = async (ch: Channel) => {
      await this.#declare(e);
      await ch.assertQueue(queue, {
        durable: false,
        autoDelete: true,
        exclusive: false,
        arguments: toFieldTable(args),
      });
      await ch.bindQueue(queue, e.name, bindingKey);
      await ch.consume(
        queue,
        (m) => {
          if (!m) return; // cancelled by the server (queue deleted): the channel is reopened below
          try {
            deliver(m);
          } catch (err) {
            report(
              new BrokerError(`a broadcast handler on ${queue} threw: ${(err as Error)?.message}`, {
                retryable: false,
                cause: err,
              }),
            );
          }
        },
        { noAck: true },
      );
    };
    const sub = new AmqpSubscription(this.#link, queue, setup, report, deleteOnClose, () =>
      this.#subs.delete(sub),
    );
    await sub.start();
    this.#subs.add(sub);
    return sub;
  }

  /** End every subscription (the broker is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.#subs].map((s) => s.close()));
    const pub = this.#publisher.current;
    this.#publisher.reset();
    if (pub) await pub.then((ch) => ch.close()).catch(() => {});
  }
}

/** One subscribed queue on a channel of its own, set up again on every new connection or channel. */
class AmqpSubscription implements Subscription {
  readonly #link: AmqpLink;
  readonly #queue: string;
  readonly #setup: (ch: Channel) => Promise<void>;
  readonly #report: (err: Error) => void;
  readonly #deleteOnClose: boolean;
  readonly #onClosed: () => void;
  #ch: Channel | null = null;
  #opening: Promise<void> | null = null;
  #retry: NodeJS.Timeout | null = null;
  #unhook: (() => void) | null = null;
  #closed = false;

  constructor(
    link: AmqpLink,
    queue: string,
    setup: (ch: Channel) => Promise<void>,
    report: (err: Error) => void,
    deleteOnClose: boolean,
    onClosed: () => void,
  ) {
    this.#link = link;
    this.#queue = queue;
    this.#setup = setup;
    this.#report = report;
    this.#deleteOnClose = deleteOnClose;
    this.#onClosed = onClosed;
  }

  async start(): Promise<void> {
    this.#unhook = this.#link.onUp(() => this.#reopen(0));
    try {
      await this.#open();
    } catch (err) {
      this.#closed = true;
      this.#unhook();
      throw err;
    }
  }

  async #open(): Promise<void> {
    if (this.#opening) return this.#opening;
    this.#opening = (async () => {
      const ch = await this.#link.channel();
      ch.on('error', () => {}); // reported through 'close' below, or by the setup step that failed
      ch.on('close', () => {
        if (this.#ch !== ch) return;
        this.#ch = null;
        // The connection is still up: the server closed this channel (queue deleted, a declare refused).
        if (!this.#closed && this.#link.isUp) this.#reopen(CHANNEL_RETRY_MS);
      });
      try {
        await this.#setup(ch);
      } catch (err) {
        await ch.close().catch(() => {});
        throw err;
      }
      if (this.#closed) {
        await ch.close().catch(() => {});
        return;
      }
      this.#ch = ch;
    })().finally(() => {
      this.#opening = null;
    });
    return this.#opening;
  }

  #reopen(delayMs: number): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      if (this.#closed || this.#ch || !this.#link.isUp) return;
      this.#open().catch((err) => {
        this.#report(
          new BrokerError(`resubscribing ${this.#queue} failed: ${(err as Error).message}; retrying`, {
            retryable: true,
            cause: err,
          }),
        );
        this.#reopen(CHANNEL_RETRY_MS);
      });
    }, delayMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unhook?.();
    if (this.#retry) clearTimeout(this.#retry);
    await this.#opening?.catch(() => {});
    const ch = this.#ch;
    this.#ch = null;
    // Closing the channel cancels the consumer, and RabbitMQ deletes the auto-delete queue with it; a
    // reply queue is deleted explicitly first, so replies it still held are gone (the contract says so).
    if (ch && this.#deleteOnClose) await ch.deleteQueue(this.#queue).catch(() => {});
    if (ch) await ch.close().catch(() => {});
    this.#onClosed();
  }
}
