/**
 * The broker contract. Every transport (memory, sqlite, redis, amqp) implements this and runs the broker
 * conformance suite (test/conformance/broker.ts). It is deliberately small: publish, consume with a
 * prefetch window, ack/reject, purge, size. Routing beyond "a queue name" belongs to the adapter.
 */
import type { WireMessage } from '../protocol/message.js';
import type { Logger } from '../util/log.js';
import type { Broadcast } from './broadcast.js';

export interface BrokerCapabilities {
  /**
   * Which end of the 0–9 priority scale is served first: 'low-first' (Redis/kombu, SQLite, memory: 0 is
   * highest), 'high-first' (RabbitMQ with x-max-priority: 9 is highest), or 'none'.
   */
  priority: 'low-first' | 'high-first' | 'none';
  /**
   * Unacked messages of a consumer that died without closing (process killed, connection lost) come back
   * on their own, marked `redelivered` (AMQP: when the channel dies; Redis, SQLite: after the visibility
   * timeout). False for the in-process memory store, whose unacked messages die with the process.
   * Every broker gives unacked messages back when it is closed.
   */
  redeliversUnacked: boolean;
  /**
   * `reject(true)` puts the message back at the front of its queue, so it is delivered next (Redis,
   * SQLite, memory). False: it may come back behind messages that were ready before it (RabbitMQ restores
   * the original position only "if possible"). Absent means false.
   */
  requeueToFront?: boolean;
  /**
   * Deliveries belong to the channel or connection that carried them: when it dies the broker requeues
   * them at once, `Delivery.valid` turns false, and settling them is a no-op (AMQP). False: the store keeps
   * unacked messages across reconnects, so a delivery stays valid and settleable after a lost connection
   * (Redis turns `valid` false only when its lease was lost to another consumer). Absent means false.
   */
  connectionBoundDeliveries?: boolean;
  /**
   * The broker can hold a message until its ETA itself (`publishDelayed`), so a worker need not keep a
   * far-future ETA message unacked (RabbitMQ closes channels whose deliveries stay unacked longer than
   * its consumer_timeout, 30 min by default: celery/celery#6760). Absent means false.
   */
  delayedDelivery?: boolean;
  /**
   * The broker carries Celery's broadcast exchanges (events, remote control and its replies) through
   * `broker.broadcast` (./broadcast.ts). Absent means false.
   */
  broadcast?: boolean;
}

export interface ConsumeOptions {
  /** Most unacked deliveries handed out at once; 0 means unlimited. */
  prefetch: number;
  /** Called when the consume loop hits an error it will retry (logged by the worker). */
  onError?: (err: Error) => void;
}

export interface Delivery {
  readonly message: WireMessage;
  /** The queue the message was taken from. */
  readonly queue: string;
  /** True when the broker delivered this message before (restored, requeued or after a visibility timeout). */
  readonly redelivered: boolean;
  /**
   * Optional: false once this delivery can no longer be settled because the channel or connection that
   * carried it died; the broker has then requeued it already, so a worker should not start it. Absent
   * means always settleable (stores that keep unacked messages across reconnects).
   */
  readonly valid?: boolean;
  /**
   * Set when the transport could not decode the message's envelope (Redis: not JSON, no properties, an
   * unknown body_encoding; SQLite: a headers column that is not a JSON object). `message.body` then holds
   * the raw bytes as stored (content type application/octet-stream) and `message.headers` only the `id`
   * and `task` that could be read, so the worker can dead-letter it with this reason and fail the task.
   */
  readonly undecodable?: Error;
  /** Remove the message for good. Idempotent: later calls of ack/reject are ignored. */
  ack(): Promise<void>;
  /**
   * requeue=true: return it to its queue (to the front where the store allows, so it runs next).
   * requeue=false: drop it, or dead-letter it where the queue has a dead-letter target.
   */
  reject(requeue: boolean): Promise<void>;
}

export interface Consumer {
  /** Change the prefetch window (the worker raises it while it holds ETA messages). */
  setPrefetch(prefetch: number): void;
  /** Stop taking messages. Deliveries already handed out can still be acked or rejected. */
  cancel(): Promise<void>;
}

export interface Broker {
  readonly transport: string;
  readonly capabilities: BrokerCapabilities;
  /** Present where capabilities.broadcast: events and remote control (./broadcast.ts). */
  readonly broadcast?: Broadcast;
  connect(): Promise<void>;
  /** Resolves once the broker has accepted the message. */
  publish(queue: string, message: WireMessage): Promise<void>;
  /** Publish many messages with as few round trips as the transport allows. */
  publishMany(items: ReadonlyArray<{ queue: string; message: WireMessage }>): Promise<void>;
  consume(
    queues: readonly string[],
    onMessage: (delivery: Delivery) => void,
    options: ConsumeOptions,
  ): Promise<Consumer>;
  /**
   * Optional (capabilities.delayedDelivery): publish `message` so that it reaches `queue` at `eta`, not
   * before (at second granularity; a past or near ETA publishes at once). Resolves once the broker holds
   * it. A worker holding a far-future ETA message calls this, then acks the original delivery.
   */
  publishDelayed?(queue: string, message: WireMessage, eta: Date): Promise<void>;
  /** Delete every ready message of a queue; returns how many. */
  purge(queue: string): Promise<number>;
  /** Ready (not unacked) messages in a queue. */
  size(queue: string): Promise<number>;
  /**
   * Optional: where the adapter reports what it handles by itself in the background (lease renewal,
   * restore scans, undecodable envelopes, duplicate delivery tags, lost connections). The worker passes
   * its logger at start; before that (a client) such reports go to stderr. Never `process.emitWarning`:
   * NODE_NO_WARNINGS would hide them.
   */
  setLogger?(logger: Logger): void;
  /**
   * Optional: look at up to `limit` ready messages of `queue`, oldest first, without consuming them, and
   * remove chosen ones (the dead-letter tooling, src/cli/dead-letter.ts). Present on sqlite, redis and amqp.
   */
  browse?(queue: string, limit: number): Promise<QueueSnapshot>;
  close(): Promise<void>;
}

/**
 * Ready messages of a queue as `browse` saw them. On stores that keep messages at rest (Redis, SQLite) it
 * is a plain read; on AMQP the messages are fetched unacked (basic.get) and held until `close`, which
 * gives back those not removed, so a snapshot must always be closed.
 */
export interface QueueSnapshot {
  readonly messages: readonly WireMessage[];
  /** Remove these messages (indices into `messages`) from the queue; returns how many were still there. */
  remove(indices: readonly number[]): Promise<number>;
  /** Release the snapshot (AMQP: give back what was not removed, marked redelivered). */
  close(): Promise<void>;
}
