/**
 * amqp:// and amqps:// — RabbitMQ through amqplib, speaking Celery's topology and message format.
 *
 * | feature              | support |
 * |----------------------|---------|
 * | URL                  | `amqp[s]://[user[:pass]@]host[:port][/vhost][?option=value]` (options.ts) |
 * | topology             | Celery's: durable queue Q + direct exchange Q bound with key Q; publish to '' with key Q (topology.ts) |
 * | priorities           | 0–9, 9 served first, when `maxPriority` sets `x-max-priority` (capability 'none' otherwise) |
 * | quorum queues        | `queueType: 'quorum'` (no priorities; QoS per consumer as Celery does) |
 * | publishing           | publisher confirms on a ConfirmChannel; publishMany waits for every confirm; unconfirmed messages are re-sent after a reconnect (at least once) |
 * | consuming            | basic.consume, manual acks, basic.qos prefetch (global for classic queues, as Celery) |
 * | consumer cancel      | a server-side basic.cancel (queue deleted, quorum leader moved) re-declares and re-consumes |
 * | reconnect            | exponential back-off with jitter, re-declare, resume consuming at the current prefetch |
 * | heartbeats           | `heartbeat` seconds (default 60) |
 * | unacked              | back to the queue when the channel or connection closes (redeliversUnacked) |
 * | delayed delivery     | `publishDelayed` through Celery 5.5's 28-level TTL/dead-letter topology (topology.ts) |
 * | headers              | AMQP table typed as py-amqp reads it: null→void, arrays→arrays, ints→int32/int64 (table.ts) |
 *
 * Options: see `amqpDefaults` in options.ts (heartbeat, connectTimeout, maxPriority, queueType,
 * prefetchGlobal, delayedQueueType, reconnectMin/Max, connectionMaxRetries, connectionName, tls).
 */
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { BrokerError, ConfigError } from '../../errors.js';
import type { WireMessage, WireProperties } from '../../protocol/message.js';
import type { Broker, BrokerCapabilities, ConsumeOptions, Consumer, Delivery } from '../broker.js';
import { AmqpLink } from './link.js';
import { type AmqpOptions, resolveAmqpOptions } from './options.js';
import { fromFieldValue, toFieldTable } from './table.js';
import {
  bindDelayedTarget,
  declareDelayTopology,
  declareTaskQueue,
  delayedRoutingKey,
  MAX_DELAY_SECONDS,
} from './topology.js';

/** Times an unconfirmed publish is re-sent after its channel or connection was lost. */
const PUBLISH_ATTEMPTS = 5;
/** basic.qos prefetch_count is a 16-bit field; a larger window is sent as this (0 stays unlimited). */
const MAX_PREFETCH = 65_535;
const qos = (n: number) => Math.min(Math.max(0, Math.floor(n)), MAX_PREFETCH);
/** Pause before re-opening a consumer channel the server closed while the connection stayed up. */
const CHANNEL_RETRY_MS = 1000;

const PROPERTY_MAP: ReadonlyArray<[keyof Options.Publish & string, string]> = [
  ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'],
  ['deliveryMode', 'delivery_mode'],
  ['priority', 'priority'],
  ['expiration', 'expiration'],
  ['messageId', 'message_id'],
  ['timestamp', 'timestamp'],
  ['type', 'type'],
  ['userId', 'user_id'],
  ['appId', 'app_id'],
];

/** WireMessage → amqplib publish options. Unknown properties are dropped, as AMQP itself would. */
export function publishOptions(m: WireMessage): Options.Publish {
  const o: Record<string, unknown> = {
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
    headers: toFieldTable(m.headers ?? {}),
  };
  for (const [ours, theirs] of PROPERTY_MAP) {
    const v = m.properties[theirs];
    if (v !== undefined && v !== null) o[ours] = ours === 'expiration' ? String(v) : v;
  }
  if (o.deliveryMode === undefined) o.deliveryMode = 2;
  return o as Options.Publish;
}

/** amqplib message → WireMessage. */
export function wireMessage(m: { content: Buffer; properties: ConsumeMessage['properties'] }): WireMessage {
  const p = m.properties as unknown as Record<string, unknown>;
  const properties: WireProperties = {};
  for (const [ours, theirs] of PROPERTY_MAP) {
    const v = p[ours];
    if (v !== undefined && v !== null) properties[theirs] = v;
  }
  return {
    body: m.content,
    contentType: (p.contentType as string | undefined) ?? '',
    contentEncoding: (p.contentEncoding as string | undefined) ?? 'binary',
    headers: (fromFieldValue(p.headers ?? {}) as Record<string, unknown>) ?? {},
    properties,
  };
}

interface Pending {
  queue: string;
  routingKey: string;
  exchange: string;
  message: WireMessage;
}

export class AmqpBroker implements Broker {
  readonly transport = 'amqp';
  readonly capabilities: BrokerCapabilities;
  readonly options: AmqpOptions;
  readonly #link: AmqpLink;
  readonly #consumers = new Set<AmqpConsumer>();
  /** Declarations done on the current connection (cleared on reconnect, as the broker may be new). */
  #declared = new Map<string, Promise<void>>();
  #delayTopology: Promise<void> | null = null;
  #publisher: Promise<ConfirmChannel> | null = null;
  #closed = false;

  constructor(url: URL, options: Record<string, unknown> = {}) {
    this.options = resolveAmqpOptions(url, options);
    this.capabilities = {
      priority: this.options.maxPriority !== null ? 'high-first' : 'none',
      redeliversUnacked: true,
      delayedDelivery: true,
    };
    this.#link = new AmqpLink(url, this.options);
    this.#link.onUp(() => {
      this.#declared = new Map();
      this.#delayTopology = null;
      this.#publisher = null;
    });
  }

  /** The connection, for the rpc backend and tests (connection name, generation). */
  get link(): AmqpLink {
    return this.#link;
  }

  /** Where handled errors (reconnects, lost channels) are reported; the worker logs them. */
  set onError(fn: (err: Error) => void) {
    this.#link.onError = fn;
  }

  connect(): Promise<void> {
    return this.#link.connect();
  }

  /** Declare a task queue as Celery does, once per connection. */
  declareQueue(queue: string): Promise<void> {
    let p = this.#declared.get(queue);
    if (!p) {
      p = this.#link.admin((ch) => declareTaskQueue(ch, queue, this.options));
      this.#declared.set(queue, p);
      p.catch(() => this.#declared.delete(queue));
    }
    return p.catch((err) => {
      throw declareError(queue, err);
    });
  }

  /** Forget that `queue` was declared (it was deleted): the next use declares it again. */
  forgetDeclared(queue: string): void {
    this.#declared.delete(queue);
    this.#declared.delete(`delayed:${queue}`);
  }

  publish(queue: string, message: WireMessage): Promise<void> {
    return this.#publishAll([{ queue, routingKey: queue, exchange: '', message }]);
  }

  publishMany(items: ReadonlyArray<{ queue: string; message: WireMessage }>): Promise<void> {
    return this.#publishAll(items.map((i) => ({ ...i, routingKey: i.queue, exchange: '' })));
  }

  async publishDelayed(queue: string, message: WireMessage, eta: Date): Promise<void> {
    const seconds = Math.ceil((eta.getTime() - Date.now()) / 1000);
    if (seconds < 1) return this.publish(queue, message);
    if (seconds > MAX_DELAY_SECONDS) {
      throw new ConfigError(`ETA ${eta.toISOString()} is beyond delayed delivery's limit of 2^28-1 seconds`);
    }
    // The per-message TTL (`expiration`, from `expires`) would cut the stay in a delay queue short and
    // move the message on early; the `expires` header still makes the worker revoke it when it arrives.
    const { expiration: _dropped, ...properties } = message.properties;
    await this.#ensureDelayTopology(queue);
    await this.#publishAll([
      {
        queue,
        exchange: 'celery_delayed_27',
        routingKey: delayedRoutingKey(seconds, queue),
        message: { ...message, properties },
      },
    ]);
  }

  async #ensureDelayTopology(queue: string): Promise<void> {
    this.#delayTopology ??= this.#link.admin((ch) => declareDelayTopology(ch, this.options.delayedQueueType));
    const topology = this.#delayTopology;
    topology.catch(() => {
      if (this.#delayTopology === topology) this.#delayTopology = null;
    });
    await topology.catch((err) => {
      throw declareError('celery_delayed_*', err, 'delayedQueueType');
    });
    const key = `delayed:${queue}`;
    let bound = this.#declared.get(key);
    if (!bound) {
      bound = this.declareQueue(queue).then(() => this.#link.admin((ch) => bindDelayedTarget(ch, queue)));
      this.#declared.set(key, bound);
      bound.catch(() => this.#declared.delete(key));
    }
    await bound;
  }

  #publisherChannel(): Promise<ConfirmChannel> {
    if (!this.#publisher) {
      const opening = this.#link.confirmChannel().then((ch) => {
        const drop = () => {
          if (this.#publisher === opening) this.#publisher = null;
        };
        ch.on('close', drop);
        ch.on('error', drop);
        return ch;
      });
      this.#publisher = opening;
      opening.catch(() => {
        if (this.#publisher === opening) this.#publisher = null;
      });
    }
    return this.#publisher;
  }

  /**
   * Publish with confirms. A message whose channel or connection dies before its confirm is sent again
   * once reconnected (it may then exist twice: at-least-once, as Celery's publish retry). A nack (the
   * broker refused it, e.g. a full queue with x-overflow reject-publish) fails at once.
   */
  async #publishAll(items: Pending[]): Promise<void> {
    if (this.#closed) throw new BrokerError('broker is closed', { retryable: false });
    let todo = items;
    for (let attempt = 1; todo.length; attempt++) {
      const ch = await this.#publisherChannel();
      await Promise.all([...new Set(todo.map((i) => i.queue))].map((q) => this.declareQueue(q)));
      const lost: Pending[] = [];
      let nacked = 0;
      const confirms: Promise<void>[] = [];
      for (const item of todo) {
        let writable = true;
        confirms.push(
          new Promise<void>((resolve) => {
            const confirmed = (err: Error | null) => {
              if (err?.message === 'message nacked') nacked++;
              else if (err) lost.push(item); // channel or connection closed before the confirm
              resolve();
            };
            try {
              const opts = publishOptions(item.message);
              writable = ch.publish(item.exchange, item.routingKey, item.message.body, opts, confirmed);
            } catch (err) {
              confirmed(err as Error); // the channel closed under us (IllegalOperationError)
            }
          }),
        );
        // Back-pressure: amqplib buffered the frame but the socket is full; wait before writing more.
        if (!writable) await drained(ch);
      }
      await Promise.all(confirms);
      if (nacked) {
        throw new BrokerError(`RabbitMQ refused ${nacked} message(s) (nack), e.g. a full queue`, {
          retryable: false,
        });
      }
      if (lost.length && attempt >= PUBLISH_ATTEMPTS) {
        throw new BrokerError(`could not publish ${lost.length} message(s): the connection kept failing`, {
          retryable: true,
        });
      }
      todo = lost;
    }
  }

  async consume(
    queues: readonly string[],
    onMessage: (delivery: Delivery) => void,
    options: ConsumeOptions,
  ): Promise<Consumer> {
    if (this.#closed) throw new BrokerError('broker is closed', { retryable: false });
    const global = this.options.prefetchGlobal ?? this.options.queueType === 'classic';
    const consumer = new AmqpConsumer(this, this.#link, [...queues], onMessage, options, global);
    this.#consumers.add(consumer);
    consumer.onEnd = () => this.#consumers.delete(consumer);
    await consumer.start();
    return consumer;
  }

  async purge(queue: string): Promise<number> {
    try {
      return (await this.#link.admin((ch) => ch.purgeQueue(queue))).messageCount;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  async size(queue: string): Promise<number> {
    try {
      return (await this.#link.admin((ch) => ch.checkQueue(queue))).messageCount;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  /** Delete a queue (tests and tooling); missing queues are fine. */
  async deleteQueue(queue: string): Promise<void> {
    this.forgetDeclared(queue);
    await this.#link
      .admin((ch) => ch.deleteQueue(queue))
      .catch((err) => {
        if (!isNotFound(err)) throw err;
      });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#consumers].map((c) => c.close()));
    const pub = this.#publisher;
    if (pub) await pub.then((ch) => ch.waitForConfirms()).catch(() => {});
    await this.#link.close();
  }
}

function drained(ch: ConfirmChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      ch.off('drain', done);
      ch.off('close', done);
      resolve();
    };
    ch.on('drain', done);
    ch.on('close', done);
  });
}

const isNotFound = (err: unknown) => /NOT_FOUND|404/.test(String((err as Error)?.message));

function declareError(what: string, err: unknown, option = 'maxPriority/queueType'): Error {
  const msg = String((err as Error)?.message ?? err);
  if (/PRECONDITION_FAILED|inequivalent/.test(msg)) {
    return new BrokerError(
      `Queue "${what}" already exists with other arguments than ours (${msg}). Align the AMQP option ${option} with the peers that declared it, or delete the queue.`,
      { retryable: false, cause: err },
    );
  }
  return err as Error;
}

class AmqpConsumer implements Consumer {
  readonly #broker: AmqpBroker;
  readonly #link: AmqpLink;
  readonly #queues: string[];
  readonly #onMessage: (d: Delivery) => void;
  readonly #onError: (err: Error) => void;
  readonly #global: boolean;
  #prefetch: number;
  #channel: Channel | null = null;
  /** Bumped for every channel: a delivery of an older epoch can no longer be acked (the broker requeued it). */
  #epoch = 0;
  #inflight = 0;
  #active = true;
  #reopening = false;
  #opening: Promise<void> | null = null;
  #tags: string[] = [];
  #unhook: Array<() => void> = [];
  onEnd: () => void = () => {};

  constructor(
    broker: AmqpBroker,
    link: AmqpLink,
    queues: string[],
    onMessage: (d: Delivery) => void,
    options: ConsumeOptions,
    global: boolean,
  ) {
    this.#broker = broker;
    this.#link = link;
    this.#queues = queues;
    this.#onMessage = onMessage;
    this.#onError = options.onError ?? ((err) => link.onError(err));
    this.#prefetch = options.prefetch;
    this.#global = global;
  }

  get epoch(): number {
    return this.#epoch;
  }

  async start(): Promise<void> {
    // After a reconnect the old channel is gone with all its consumers: open a new one.
    this.#unhook.push(this.#link.onUp(() => this.#reopen(0)));
    // The link gave up reconnecting: tell the worker, whose consumer is now dead for good.
    this.#unhook.push(
      this.#link.onDown((err) => {
        if (err instanceof BrokerError && !err.retryable) this.#onError(err);
      }),
    );
    this.#opening = this.#open();
    try {
      await this.#opening;
    } finally {
      this.#opening = null;
    }
  }

  async #open(): Promise<void> {
    const ch = await this.#link.channel();
    if (!this.#active) {
      await ch.close().catch(() => {});
      return;
    }
    const epoch = ++this.#epoch;
    this.#channel = ch;
    this.#inflight = 0;
    this.#tags = [];
    ch.on('error', (err: Error) =>
      this.#onError(new BrokerError(`AMQP channel error: ${err.message}`, { retryable: true, cause: err })),
    );
    ch.on('close', () => {
      if (this.#channel !== ch) return;
      this.#channel = null;
      // The connection is still up, so the server closed just this channel (e.g. a protocol error):
      // open a new one. A lost connection is handled by the onUp hook instead.
      if (this.#active && this.#link.isUp) this.#reopen(CHANNEL_RETRY_MS);
      if (!this.#active) this.onEnd();
    });
    await ch.prefetch(qos(this.#prefetch), this.#global);
    for (const queue of this.#queues) {
      await this.#broker.declareQueue(queue);
      await this.#consumeOne(ch, epoch, queue).catch((err) => {
        // Deleted since we declared it: declare again on the next attempt.
        if (isNotFound(err)) this.#broker.forgetDeclared(queue);
        throw err;
      });
    }
  }

  async #consumeOne(ch: Channel, epoch: number, queue: string): Promise<void> {
    const { consumerTag } = await ch.consume(queue, (m) => this.#deliver(ch, epoch, queue, m), {
      noAck: false,
    });
    if (this.#channel === ch) this.#tags.push(consumerTag);
  }

  /**
   * Open a new channel after `delayMs`, unless one is open or opening, or the connection is down (the
   * onUp hook reopens then: opening now would wait for the connection and race with it, leaving an
   * orphan channel whose deliveries nobody could ack).
   */
  #reopen(delayMs: number): void {
    if (!this.#active || this.#reopening) return;
    this.#reopening = true;
    setTimeout(() => {
      this.#reopening = false;
      if (!this.#active || this.#channel || this.#opening || !this.#link.isUp) return;
      this.#opening = this.#open()
        .catch((err) => {
          this.#onError(err as Error);
          const ch = this.#channel;
          this.#channel = null;
          ch?.close().catch(() => {});
          this.#reopen(CHANNEL_RETRY_MS);
        })
        .finally(() => {
          this.#opening = null;
        });
    }, delayMs);
  }

  #deliver(ch: Channel, epoch: number, queue: string, m: ConsumeMessage | null): void {
    if (m === null) {
      // basic.cancel from the server: the queue was deleted or (quorum) its leader moved. Declare it
      // again and consume again, after a pause so a deleted-on-purpose queue does not spin.
      this.#onError(
        new BrokerError(`RabbitMQ cancelled our consumer on "${queue}"; consuming again`, {
          retryable: true,
        }),
      );
      this.#broker.forgetDeclared(queue);
      setTimeout(() => {
        if (!this.#active || this.#channel !== ch) return;
        this.#broker
          .declareQueue(queue)
          .then(() => this.#consumeOne(ch, epoch, queue))
          .catch((err) => this.#onError(err as Error));
      }, CHANNEL_RETRY_MS);
      return;
    }
    if (!this.#active) {
      // Arrived after cancel, never handed out: straight back to the queue, marked redelivered.
      try {
        ch.reject(m, true);
      } catch {}
      return;
    }
    this.#inflight++;
    this.#onMessage(new AmqpDelivery(this, ch, epoch, queue, m));
  }

  owns(ch: Channel, epoch: number): boolean {
    return epoch === this.#epoch && this.#channel === ch;
  }

  /** ack/reject on the channel that delivered the message, if that channel still lives. */
  settle(ch: Channel, epoch: number, m: ConsumeMessage, how: 'ack' | 'requeue' | 'discard'): void {
    if (!this.owns(ch, epoch)) {
      // That channel is gone, and with it this delivery: RabbitMQ has requeued it already (it will come
      // back with redelivered=true), and its tag means nothing on a newer channel.
      return;
    }
    try {
      if (how === 'ack') ch.ack(m);
      else ch.reject(m, how === 'requeue');
    } catch {}
    this.#inflight--;
    if (!this.#active && this.#inflight <= 0) void this.close();
  }

  setPrefetch(prefetch: number): void {
    this.#prefetch = prefetch;
    this.#channel?.prefetch(qos(prefetch), this.#global).catch((err) => this.#onError(err as Error));
  }

  async cancel(): Promise<void> {
    if (!this.#active) return;
    this.#active = false;
    for (const u of this.#unhook.splice(0)) u();
    const ch = this.#channel;
    if (!ch) return this.onEnd();
    // basic.cancel each consumer; deliveries handed out stay ackable on this channel until settled.
    await Promise.all(this.#tags.splice(0).map((tag) => ch.cancel(tag).catch(() => {})));
    if (this.#inflight <= 0) await this.close();
  }

  /** Close the channel: RabbitMQ requeues every unacked delivery of it. */
  async close(): Promise<void> {
    this.#active = false;
    for (const u of this.#unhook.splice(0)) u();
    const ch = this.#channel;
    this.#channel = null;
    if (ch) await ch.close().catch(() => {});
    this.onEnd();
  }
}

class AmqpDelivery implements Delivery {
  readonly message: WireMessage;
  readonly queue: string;
  readonly redelivered: boolean;
  readonly #consumer: AmqpConsumer;
  readonly #channel: Channel;
  readonly #epoch: number;
  readonly #raw: ConsumeMessage;
  #settled = false;

  constructor(consumer: AmqpConsumer, channel: Channel, epoch: number, queue: string, raw: ConsumeMessage) {
    this.#consumer = consumer;
    this.#channel = channel;
    this.#epoch = epoch;
    this.#raw = raw;
    this.queue = queue;
    this.redelivered = raw.fields.redelivered;
    this.message = wireMessage(raw);
  }

  /** False once the channel that delivered it is gone (RabbitMQ requeued it then). */
  get valid(): boolean {
    return this.#consumer.owns(this.#channel, this.#epoch);
  }

  ack(): Promise<void> {
    if (!this.#settled) {
      this.#settled = true;
      this.#consumer.settle(this.#channel, this.#epoch, this.#raw, 'ack');
    }
    return Promise.resolve();
  }

  reject(requeue: boolean): Promise<void> {
    if (!this.#settled) {
      this.#settled = true;
      this.#consumer.settle(this.#channel, this.#epoch, this.#raw, requeue ? 'requeue' : 'discard');
    }
    return Promise.resolve();
  }
}

export function createAmqpBroker(url: URL, options: Record<string, unknown>): AmqpBroker {
  return new AmqpBroker(url, options);
}
