/**
 * The AMQP consumer: one channel per `consume()` call, basic.consume on each queue, manual acks.
 * Responsibilities:
 *  - QoS: basic.qos with the worker's window (global or per consumer), changed live by setPrefetch;
 *  - survive: a channel closed by the server is reopened; after a reconnect the link's onUp hook opens a
 *    new one; a server-side basic.cancel (queue deleted) declares the queue again and consumes again;
 *  - settle on the right channel: every channel has an epoch, and a delivery of a dead channel can be
 *    neither acked nor rejected (RabbitMQ requeued it already; its tag means nothing on a new channel);
 *  - coalesce acks: the acks of one event-loop turn go out together (util/coalesce.ts), as one basic.ack
 *    with `multiple` for the run of oldest deliveries that are all acked, and one basic.ack each for the
 *    others. `multiple` acks every unacked tag up to it, so it is only ever sent for a run in which no
 *    delivery is still running (nor held for its ETA). Rejects go out at once: a later `multiple` must
 *    never cover a delivery that was to be rejected.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { type AmqpLink, isNotFound } from '../../drivers/amqp/link.js';
import { BrokerError, ProtocolError } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import { Coalescer } from '../../util/coalesce.js';
import type { ConsumeOptions, Consumer, Delivery } from '../broker.js';
import { wireMessage } from './message.js';

/** basic.qos prefetch_count is a 16-bit field; a larger window is sent as this (0 stays unlimited). */
const MAX_PREFETCH = 65_535;
const qos = (n: number) => Math.min(Math.max(0, Math.floor(n)), MAX_PREFETCH);
/** Pause before re-opening a consumer channel the server closed while the connection stayed up. */
const CHANNEL_RETRY_MS = 1000;

/** What the consumer needs from the broker: Celery-style queue declaration, cached per connection. */
export interface QueueDeclarer {
  declareQueue(queue: string): Promise<void>;
  forgetDeclared(queue: string): void;
}

export class AmqpConsumer implements Consumer {
  readonly #broker: QueueDeclarer;
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
  /**
   * The current channel's deliveries not settled on the wire yet, by delivery tag in delivery order (tags
   * grow on a channel): the message while its task runs, null once acked and waiting for this turn's write.
   */
  #unsettled = new Map<number, ConsumeMessage | null>();
  /** Acks of this turn; written by #writeAcks on the next (always for the current channel, see #open). */
  readonly #acks = new Coalescer<ConsumeMessage>((batch) => this.#writeAcks(batch));
  #unhook: Array<() => void> = [];
  onEnd: () => void = () => {};

  constructor(
    broker: QueueDeclarer,
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
    // Acks still queued belong to the old channel (gone, its deliveries requeued by RabbitMQ): written
    // now, against it, so none is ever sent on the new channel, where the same tags mean other messages.
    void this.#acks.flush();
    const epoch = ++this.#epoch;
    this.#channel = ch;
    this.#inflight = 0;
    this.#tags = [];
    this.#unsettled = new Map();
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
    this.#unsettled.set(m.fields.deliveryTag, m);
    this.#onMessage(new AmqpDelivery(this, ch, epoch, queue, m));
  }

  owns(ch: Channel, epoch: number): boolean {
    return epoch === this.#epoch && this.#channel === ch;
  }

  /** ack/reject on the channel that delivered the message, if that channel still lives. */
  settle(
    ch: Channel,
    epoch: number,
    m: ConsumeMessage,
    how: 'ack' | 'requeue' | 'discard',
  ): Promise<void> | undefined {
    if (!this.owns(ch, epoch)) {
      // That channel is gone, and with it this delivery: RabbitMQ has requeued it already (it will come
      // back with redelivered=true), and its tag means nothing on a newer channel.
      return;
    }
    let written: Promise<void> | undefined;
    if (how === 'ack') {
      this.#unsettled.set(m.fields.deliveryTag, null);
      written = this.#acks.add(m);
    } else {
      this.#unsettled.delete(m.fields.deliveryTag);
      try {
        ch.reject(m, how === 'requeue');
      } catch {}
    }
    this.#inflight--;
    if (!this.#active && this.#inflight <= 0) void this.close();
    return written;
  }

  /**
   * Write a turn's acks on the current channel: one `multiple` ack for the oldest run of unsettled
   * deliveries that are all acked, one plain ack for each acked delivery behind a running one.
   */
  #writeAcks(batch: ConsumeMessage[]): void {
    const ch = this.#channel;
    if (!ch) return; // closed meanwhile: RabbitMQ requeued these deliveries, there is nothing to ack
    const unsettled = this.#unsettled;
    let upTo = -1;
    let run = 0;
    for (const [tag, m] of unsettled) {
      if (m !== null) break; // still running: the run stops before it
      unsettled.delete(tag);
      upTo = tag;
      run++;
    }
    try {
      for (const m of batch) {
        const tag = m.fields.deliveryTag;
        if (tag < upTo) continue; // covered by the multiple ack below
        if (tag === upTo) ch.ack(m, run > 1);
        else {
          unsettled.delete(tag);
          ch.ack(m);
        }
      }
    } catch {
      // The channel closed under us: RabbitMQ requeues what it had not seen acked.
    }
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
    void this.#acks.flush(); // written now (synchronously), ahead of channel.close
    const ch = this.#channel;
    this.#channel = null;
    if (ch) await ch.close().catch(() => {});
    this.onEnd();
  }
}

class AmqpDelivery implements Delivery {
  readonly message: WireMessage;
  readonly undecodable?: Error;
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
    try {
      this.message = wireMessage(raw);
    } catch (err) {
      // Headers we cannot turn into values (nested past the stack): the worker dead-letters the body.
      this.message = {
        body: raw.content,
        contentType: 'application/octet-stream',
        contentEncoding: 'binary',
        headers: {},
        properties: {},
      };
      this.undecodable = new ProtocolError(`message headers cannot be read: ${(err as Error).message}`);
    }
  }

  /** False once the channel that delivered it is gone (RabbitMQ requeued it then). */
  get valid(): boolean {
    return this.#consumer.owns(this.#channel, this.#epoch);
  }

  /** Resolves once this turn's acks are written to the channel (see AmqpConsumer#writeAcks). */
  ack(): Promise<void> {
    if (this.#settled) return Promise.resolve();
    this.#settled = true;
    return this.#consumer.settle(this.#channel, this.#epoch, this.#raw, 'ack') ?? Promise.resolve();
  }

  reject(requeue: boolean): Promise<void> {
    if (!this.#settled) {
      this.#settled = true;
      this.#consumer.settle(this.#channel, this.#epoch, this.#raw, requeue ? 'requeue' : 'discard');
    }
    return Promise.resolve();
  }
}
