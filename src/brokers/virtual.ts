/**
 * AMQP-like semantics emulated once over a few storage primitives (the idea of kombu's virtual
 * transport), so memory, SQLite and Redis stores only move bytes. This class owns:
 *  - the consume loop: take up to the free prefetch window, hand deliveries out, wait when idle;
 *  - QoS: never more than `prefetch` unacked deliveries per consumer;
 *  - ack/reject coalescing: acks issued in one turn reach the store in one call (util/coalesce.ts);
 *  - failure containment: a store error is reported, backed off and retried; the loop never dies silently;
 *  - the priority levels of stores that keep ten exact levels (`priorityBucket`).
 */
import type { WireMessage } from '../protocol/message.js';
import { Coalescer } from '../util/coalesce.js';
import type { Logger } from '../util/log.js';
import type { Broadcast } from './broadcast.js';
import type {
  Broker,
  BrokerCapabilities,
  ConsumeOptions,
  Consumer,
  Delivery,
  QueueSnapshot,
} from './broker.js';

/**
 * A message a store took. Stores make it with `taken()`, which returns the Delivery the consumer hands
 * out (so a message is one object from the store's take to its ack, not a Taken copied into a Delivery);
 * a plain object of this shape from a store of your own works too and is wrapped.
 */
export interface Taken {
  /** Store-unique id of this delivery (kombu's delivery_tag). */
  readonly tag: string;
  readonly queue: string;
  readonly message: WireMessage;
  readonly redelivered: boolean;
  /** The envelope could not be decoded (Delivery.undecodable): `message` holds its raw bytes. */
  readonly undecodable?: Error;
}

/** A taken message, as the Delivery its consumer will hand out (see Taken). */
export function taken(
  tag: string,
  queue: string,
  message: WireMessage,
  redelivered: boolean,
  undecodable?: Error,
): Taken {
  return new VirtualDelivery(tag, queue, message, redelivered, undecodable);
}

/** The storage primitives a virtual transport provides. */
export interface VirtualStore {
  readonly transport: string;
  readonly capabilities: BrokerCapabilities;
  connect(): Promise<void>;
  put(items: ReadonlyArray<{ queue: string; message: WireMessage }>): Promise<void>;
  /**
   * Move up to `max` ready messages from `queues` into the unacked set and return them, highest priority
   * first. When none is ready, wait up to `waitMs` for one (without busy polling), then return [].
   */
  take(queues: readonly string[], max: number, waitMs: number): Promise<Taken[]>;
  ack(tags: readonly string[]): Promise<void>;
  /** Put unacked messages back at the front of their queues. */
  requeue(tags: readonly string[]): Promise<void>;
  /** Drop unacked messages that were rejected without requeue (or dead-letter them). */
  discard(tags: readonly string[]): Promise<void>;
  /**
   * Settle one delivery, for a store that coalesces its own writes (SQLite: acks and results of a turn in
   * one transaction). Without it the broker gathers each turn's tags into one ack/requeue/discard call.
   */
  settleOne?(kind: 'ack' | 'requeue' | 'discard', tag: string): Promise<void>;
  /**
   * Optional: an ack or discard of a delivery the store handed out before recording it, and has not
   * recorded yet (Redis: a message straight from BRPOP, redis/popped.ts). True when it was one: the store
   * forgot it, and there is nothing to write.
   */
  dropUnrecorded?(tag: string): boolean;
  purge(queue: string): Promise<number>;
  size(queue: string): Promise<number>;
  /** Wake any take() waiting now, so cancel and close do not wait out `waitMs`. */
  interrupt?(): void;
  /**
   * Optional: false once the store no longer owns this delivery (Redis: its lease was lost and another
   * consumer restored the message), so the worker must not start it. Absent means always valid.
   */
  isValid?(tag: string): boolean;
  /** Present where capabilities.broadcast (./broadcast.ts). */
  readonly broadcast?: Broadcast;
  /** Broker.setLogger: where background reports go. */
  setLogger?(logger: Logger): void;
  /** Broker.browse: ready messages of a queue without taking them. */
  browse?(queue: string, limit: number): Promise<QueueSnapshot>;
  close(): Promise<void>;
}

/**
 * The priority level (0–9, 0 served first, as kombu on Redis) a store files a message under: integers
 * are clamped into range, anything else is 0. Shared by the memory and SQLite stores, whose ten levels
 * are exact (Redis buckets them in steps, drivers/redis/keys.ts).
 */
export function priorityBucket(priority: unknown): number {
  const p = typeof priority === 'number' && Number.isInteger(priority) ? priority : 0;
  return Math.min(9, Math.max(0, p));
}

const TAKE_BATCH = 256;
/** Most tags per store ack/requeue/discard call. */
const SETTLE_BATCH = 1000;
const IDLE_WAIT_MS = 1000;

export class VirtualBroker implements Broker {
  readonly #store: VirtualStore;
  readonly #consumers = new Set<VirtualConsumer>();
  /**
   * Acks, requeues and discards of one event-loop turn reach the store as one call of each kind (one
   * pipeline, script call or transaction), see util/coalesce.ts. Separate coalescers, so a failed requeue
   * never fails the acks of its turn. At most SETTLE_BATCH tags per call, so no call holds the store long.
   */
  readonly #acks: Coalescer<string>;
  readonly #requeues: Coalescer<string>;
  readonly #discards: Coalescer<string>;

  constructor(store: VirtualStore) {
    this.#store = store;
    const max = { max: SETTLE_BATCH };
    this.#acks = new Coalescer((tags) => store.ack(tags), max);
    this.#requeues = new Coalescer((tags) => store.requeue(tags), max);
    this.#discards = new Coalescer((tags) => store.discard(tags), max);
  }

  get transport(): string {
    return this.#store.transport;
  }
  get capabilities(): BrokerCapabilities {
    return this.#store.capabilities;
  }
  get broadcast(): Broadcast | undefined {
    return this.#store.broadcast;
  }
  /** The underlying store, for adapter-specific operations and tests. */
  get store(): VirtualStore {
    return this.#store;
  }

  connect(): Promise<void> {
    return this.#store.connect();
  }

  publish(queue: string, message: WireMessage): Promise<void> {
    return this.#store.put([{ queue, message }]);
  }

  publishMany(items: ReadonlyArray<{ queue: string; message: WireMessage }>): Promise<void> {
    return items.length ? this.#store.put(items) : Promise.resolve();
  }

  async consume(
    queues: readonly string[],
    onMessage: (d: Delivery) => void,
    options: ConsumeOptions,
  ): Promise<Consumer> {
    const consumer = new VirtualConsumer(this, this.#store, [...queues], onMessage, options);
    this.#consumers.add(consumer);
    consumer.start(() => this.#consumers.delete(consumer));
    return consumer;
  }

  purge(queue: string): Promise<number> {
    return this.#store.purge(queue);
  }

  size(queue: string): Promise<number> {
    return this.#store.size(queue);
  }

  setLogger(logger: Logger): void {
    this.#store.setLogger?.(logger);
  }

  get browse(): ((queue: string, limit: number) => Promise<QueueSnapshot>) | undefined {
    const store = this.#store;
    return store.browse
      ? (queue, limit) => store.browse?.(queue, limit) as Promise<QueueSnapshot>
      : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.cancel()));
    await this.flush();
    await this.#store.close();
  }

  /** Queue an ack/requeue/discard for this turn's write of its kind; settles with that write. */
  settle(kind: 'ack' | 'requeue' | 'discard', tag: string): Promise<void> {
    if (this.#store.settleOne) return this.#store.settleOne(kind, tag);
    if (kind !== 'requeue' && this.#store.dropUnrecorded?.(tag)) return Promise.resolve();
    const c = kind === 'ack' ? this.#acks : kind === 'requeue' ? this.#requeues : this.#discards;
    return c.add(tag);
  }

  /** Write every queued ack, requeue and discard now, and wait for those in flight. */
  async flush(): Promise<void> {
    await Promise.all([this.#acks.flush(), this.#requeues.flush(), this.#discards.flush()]);
  }
}

class VirtualConsumer implements Consumer {
  readonly #broker: VirtualBroker;
  readonly #store: VirtualStore;
  readonly #queues: string[];
  readonly #onMessage: (d: Delivery) => void;
  readonly #onError: ((err: Error) => void) | undefined;
  #prefetch: number;
  #inflight = 0;
  #active = true;
  #wake: (() => void) | null = null;
  #loop: Promise<void> = Promise.resolve();

  constructor(
    broker: VirtualBroker,
    store: VirtualStore,
    queues: string[],
    onMessage: (d: Delivery) => void,
    options: ConsumeOptions,
  ) {
    this.#broker = broker;
    this.#store = store;
    this.#queues = queues;
    this.#onMessage = onMessage;
    this.#onError = options.onError;
    this.#prefetch = options.prefetch;
  }

  start(onEnd: () => void): void {
    this.#loop = this.#run().finally(onEnd);
  }

  setPrefetch(prefetch: number): void {
    this.#prefetch = prefetch;
    this.#signal();
  }

  async cancel(): Promise<void> {
    if (!this.#active) return this.#loop;
    this.#active = false;
    this.#signal();
    this.#store.interrupt?.();
    await this.#loop;
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #room(): number {
    if (this.#prefetch <= 0) return TAKE_BATCH;
    return Math.min(TAKE_BATCH, this.#prefetch - this.#inflight);
  }

  async #run(): Promise<void> {
    let backoff = 100;
    while (this.#active) {
      const room = this.#room();
      // QoS: never more than `prefetch` unacked. And while messages are still in hand, wait until a
      // quarter of the window is free before taking more: one take per finished task would make a broker
      // round trip per message (the worker then idles on the network instead of running tasks).
      const minBatch =
        this.#inflight > 0 && this.#prefetch > 0 ? Math.max(1, Math.floor(this.#prefetch / 4)) : 1;
      if (room < minBatch) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        continue;
      }
      let taken: Taken[];
      try {
        taken = await this.#store.take(this.#queues, room, IDLE_WAIT_MS);
        backoff = 100;
      } catch (err) {
        // The store failed (connection lost, database busy): report, back off, try again.
        this.#onError?.(err as Error);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      if (!this.#active) {
        // Cancelled while taking: these were never handed out, so they go straight back.
        if (taken.length) await this.#store.requeue(taken.map((t) => t.tag));
        break;
      }
      for (const t of taken) {
        this.#inflight++;
        const d = t instanceof VirtualDelivery ? t : VirtualDelivery.of(t);
        this.#onMessage(d.handOut(this));
      }
    }
  }

  isValid(tag: string): boolean {
    return this.#store.isValid?.(tag) ?? true;
  }

  settle(kind: 'ack' | 'requeue' | 'discard', tag: string): Promise<void> {
    const done = this.#broker.settle(kind, tag);
    if (kind === 'ack') {
      // An ack frees the slot at once: the message is gone whatever the flush's timing.
      this.#inflight--;
      this.#signal();
      return done;
    }
    // A requeued message must be back in its queue before the slot refills, or the next take would
    // overtake it; so the slot opens only once the store has it.
    const release = () => {
      this.#inflight--;
      this.#signal();
    };
    return done.then(release, (err) => {
      release();
      throw err;
    });
  }
}

/**
 * Taken and Delivery in one object: made by the store at its take (`taken()`), handed out by the consumer
 * that took it. Plain fields, not getters over a Taken: the worker reads them for every message.
 */
class VirtualDelivery implements Taken, Delivery {
  #consumer: VirtualConsumer | null = null;
  #settled = false;

  constructor(
    readonly tag: string,
    readonly queue: string,
    readonly message: WireMessage,
    readonly redelivered: boolean,
    readonly undecodable: Error | undefined,
  ) {}

  /** A Taken that some other store made as a plain object. */
  static of(t: Taken): VirtualDelivery {
    return new VirtualDelivery(t.tag, t.queue, t.message, t.redelivered, t.undecodable);
  }

  handOut(consumer: VirtualConsumer): this {
    this.#consumer = consumer;
    return this;
  }

  get valid(): boolean {
    return this.#consumer?.isValid(this.tag) ?? true;
  }
  ack(): Promise<void> {
    if (this.#settled || !this.#consumer) return Promise.resolve();
    this.#settled = true;
    return this.#consumer.settle('ack', this.tag);
  }
  reject(requeue: boolean): Promise<void> {
    if (this.#settled || !this.#consumer) return Promise.resolve();
    this.#settled = true;
    return this.#consumer.settle(requeue ? 'requeue' : 'discard', this.tag);
  }
}
