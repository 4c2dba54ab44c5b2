/**
 * amqp:// and amqps:// — RabbitMQ through amqplib, speaking Celery's topology and message format.
 *
 * | feature              | support |
 * |----------------------|---------|
 * | URL                  | `amqp[s]://[user[:pass]@]host[:port][/vhost][?option=value]` (drivers/amqp/options.ts) |
 * | topology             | Celery's: durable queue Q + direct exchange Q bound with key Q; publish to '' with key Q (topology.ts) |
 * | priorities           | 0–9, 9 served first, when `maxPriority` sets `x-max-priority` (capability 'none' otherwise) |
 * | quorum queues        | `queueType: 'quorum'` (no priorities; QoS per consumer as Celery does) |
 * | publishing           | publisher confirms on a ConfirmChannel, pipelined: each message settles on its own confirm, a nack fails only its message, unconfirmed messages are re-sent after a reconnect (at least once, reported) (./publisher.ts) |
 * | consuming            | basic.consume, manual acks, basic.qos prefetch (global for classic queues, as Celery) |
 * | consumer cancel      | a server-side basic.cancel (queue deleted, quorum leader moved) re-declares and re-consumes |
 * | reconnect            | exponential back-off with jitter, re-declare, resume consuming at the current prefetch |
 * | heartbeats           | `heartbeat` seconds (default 60) |
 * | unacked              | back to the queue when the channel or connection closes (redeliversUnacked) |
 * | delayed delivery     | `publishDelayed` through Celery 5.5's 28-level TTL/dead-letter topology (topology.ts) |
 * | broadcast            | Celery's `celeryev` (topic, durable), `celery.pidbox` (fanout) and `reply.celery.pidbox` (direct) exchanges; auto-delete subscriber queues with Celery's x-message-ttl/x-expires; a channel each, resubscribed after a reconnect (./broadcast.ts) |
 * | headers              | AMQP table typed as py-amqp reads it: null→void, arrays→arrays, ints→int32/int64 (drivers/amqp/table.ts) |
 *
 * Options: see `amqpDefaults` in drivers/amqp/options.ts (heartbeat, connectTimeout, maxPriority, queueType,
 * prefetchGlobal, delayedQueueType, reconnectMin/Max, connectionMaxRetries, connectionName, tls).
 */
import type { ConfirmChannel } from 'amqplib';
import { decoderProblem } from '../../drivers/amqp/driver.js';
import { AmqpLink, ChannelSlot, drained, isNotFound } from '../../drivers/amqp/link.js';
import { type AmqpOptions, resolveAmqpOptions } from '../../drivers/amqp/options.js';
import { BrokerError, ConfigError } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import type { Logger } from '../../util/log.js';
import type {
  Broker,
  BrokerCapabilities,
  ConsumeOptions,
  Consumer,
  Delivery,
  QueueSnapshot,
} from '../broker.js';
import { AmqpBroadcast } from './broadcast.js';
import { browseAmqp } from './browse.js';
import { AmqpConsumer } from './consumer.js';
import { publishOptions } from './message.js';
import { ConfirmPublisher, type Pending } from './publisher.js';
import {
  bindDelayedTarget,
  declareDelayTopology,
  declareTaskQueue,
  delayedRoutingKey,
  MAX_DELAY_SECONDS,
} from './topology.js';

export class AmqpBroker implements Broker {
  readonly transport = 'amqp';
  readonly capabilities: BrokerCapabilities;
  readonly options: AmqpOptions;
  /** Events and remote control on Celery's exchanges, over this broker's connection (./broadcast.ts). */
  readonly broadcast: AmqpBroadcast;
  readonly #link: AmqpLink;
  readonly #consumers = new Set<AmqpConsumer>();
  /** Declarations done on the current connection (cleared on reconnect, as the broker may be new). */
  #declared = new Map<string, Promise<void>>();
  /** Queues whose declaration on the current connection is done (the publisher's no-await fast path). */
  #declaredDone = new Set<string>();
  #delayTopology: Promise<void> | null = null;
  readonly #publisher: ChannelSlot<ConfirmChannel>;
  readonly #confirming: ConfirmPublisher;
  #unconfirmedDrain: Promise<void> | null = null;
  #closed = false;

  constructor(url: URL, options: Record<string, unknown> = {}) {
    this.options = resolveAmqpOptions(url, options);
    this.capabilities = {
      priority: this.options.maxPriority !== null ? 'high-first' : 'none',
      redeliversUnacked: true,
      delayedDelivery: true,
      // RabbitMQ puts a requeued message back at its original position only "if possible".
      requeueToFront: false,
      connectionBoundDeliveries: true,
      broadcast: true,
    };
    this.#link = new AmqpLink(url, this.options);
    this.broadcast = new AmqpBroadcast(this.#link);
    this.#publisher = new ChannelSlot(() => this.#link.confirmChannel());
    this.#confirming = new ConfirmPublisher({
      link: this.#link,
      slot: this.#publisher,
      declare: (q) => this.declareQueue(q),
      declared: (q) => this.#declaredDone.has(q),
      isClosed: () => this.#closed,
    });
    this.#link.onUp(() => {
      this.#declared = new Map();
      this.#declaredDone = new Set();
      this.#delayTopology = null;
      this.#publisher.reset();
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

  /** Broker.setLogger: handled errors (reconnects, lost channels, failed unconfirmed publishes) are logged. */
  setLogger(logger: Logger): void {
    this.#link.onError = (err) => logger.log('error', `AMQP broker: ${err.message}`);
    const problem = decoderProblem();
    if (problem) logger.log('warn', problem);
  }

  /** Broker.browse: the queue's ready messages fetched unacked on a channel of their own (./browse.ts). */
  browse(queue: string, limit: number): Promise<QueueSnapshot> {
    return browseAmqp(this.#link, queue, limit);
  }

  /** One attempt: the app's start-up (brokers/connect.ts) retries and logs as Celery does. */
  connect(): Promise<void> {
    return this.#link.connect({ once: true });
  }

  /** Declare a task queue as Celery does, once per connection. */
  declareQueue(queue: string): Promise<void> {
    let p = this.#declared.get(queue);
    if (!p) {
      const done = this.#declaredDone;
      p = this.#link.admin((ch) => declareTaskQueue(ch, queue, this.options));
      this.#declared.set(queue, p);
      p.then(
        () => done.add(queue),
        () => this.#declared.delete(queue),
      );
    }
    return p.catch((err) => {
      throw declareError(queue, err);
    });
  }

  /** Forget that `queue` was declared (it was deleted): the next use declares it again. */
  forgetDeclared(queue: string): void {
    this.#declared.delete(queue);
    this.#declaredDone.delete(queue);
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

  /** Publish with confirms, pipelined: each message settles on its own confirm (./publisher.ts). */
  #publishAll(items: Pending[]): Promise<void> {
    if (this.#closed) return Promise.reject(new BrokerError('broker is closed', { retryable: false }));
    if (this.options.confirmPublish === false) return this.#publishUnconfirmed(items);
    return this.#confirming.publish(items);
  }

  /**
   * confirmPublish: false — write and return, as kombu does by default: no wait for the broker's confirm,
   * no resend after a lost connection. A nack or a loss is reported through onError (the worker logs it).
   */
  async #publishUnconfirmed(items: Pending[]): Promise<void> {
    const ch = await this.#publisher.get();
    await Promise.all([...new Set(items.map((i) => i.queue))].map((q) => this.declareQueue(q)));
    while (this.#unconfirmedDrain) await this.#unconfirmedDrain;
    for (const item of items) {
      const writable = ch.publish(
        item.exchange,
        item.routingKey,
        item.message.body,
        publishOptions(item.message),
        (err: Error | null) => {
          if (err)
            this.#link.onError(
              new BrokerError(`unconfirmed publish to "${item.queue}" failed: ${err.message}`, {
                retryable: false,
              }),
            );
        },
      );
      if (!writable) {
        // One wait for 'drain' shared by every concurrent publisher (not a listener each).
        this.#unconfirmedDrain ??= drained(ch).finally(() => {
          this.#unconfirmedDrain = null;
        });
        await this.#unconfirmedDrain;
      }
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
    try {
      await consumer.start();
    } catch (err) {
      // E.g. a queue declared with other arguments (x-max-priority): fatal for this consume(). Without the
      // close, the consumer would reopen its channel and fail again forever, keeping the process up.
      await consumer.close().catch(() => {});
      this.#consumers.delete(consumer);
      throw err;
    }
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
    await this.broadcast.close();
    const pub = this.#publisher.current;
    if (pub) await pub.then((ch) => ch.waitForConfirms()).catch(() => {});
    await this.#link.close();
  }
}

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

export function createAmqpBroker(url: URL, options: Record<string, unknown>): AmqpBroker {
  return new AmqpBroker(url, options);
}
