/**
 * The broadcast contract: Celery's exchanges that are not task queues. Events go out on the `celeryev`
 * topic exchange, remote-control requests on the `celery.pidbox` fanout exchange, and control replies
 * come back through the `reply.celery.pidbox` direct exchange to one client's reply queue
 * (celery-wire.md §5.1, §6.1). A broker that supports it exposes `broker.broadcast` and declares
 * `capabilities.broadcast`; the conformance suite (test/conformance/broadcast.ts) runs only there.
 *
 * Semantics are kombu's, whatever the transport:
 *  - `publish` is fire-and-forget: subscribers present now receive it; nobody subscribed means it is
 *    gone. No ack, no redelivery (Redis PUB/SUB, AMQP auto-delete queues, SQLite rows that expire).
 *  - `subscribe` receives what matches its binding key: on a fanout exchange everything published (kombu
 *    with fanout_patterns filters by routing key on Redis too, so '' matches only an empty key there and
 *    '#' everything); on a topic exchange `#` matches any number of words and `*` one word.
 *  - replies are durable-ish list messages: a message sent with `reply` before the client reads it waits
 *    in the reply queue until the reply queue is closed (or expires).
 *
 * Messages are WireMessages (JSON bodies, headers such as `hostname`, `clock`, `ticket`).
 */
import type { WireMessage } from '../protocol/message.js';

export interface Exchange {
  readonly name: string;
  /** Celery's `celeryev` is topic on AMQP and fanout on Redis; `celery.pidbox` is fanout everywhere. */
  readonly type: 'fanout' | 'topic';
  /** AMQP only: declared durable (celeryev is; celery.pidbox is not). */
  readonly durable?: boolean;
}

export interface BroadcastMessage {
  readonly exchange: string;
  readonly routingKey: string;
  readonly message: WireMessage;
}

export type BroadcastHandler = (m: BroadcastMessage) => void;

export interface Subscription {
  /** Stop receiving; deletes the transport's queue (AMQP auto-delete, Redis binding, SQLite cursor). */
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /**
   * The subscriber's queue name where the transport has one: `celeryev.<uuid>` for an event receiver,
   * `<nodename>.celery.pidbox` for a worker's mailbox. AMQP declares it auto-delete (and exclusive for
   * receivers); other transports use it for logs and bookkeeping.
   */
  readonly queue: string;
  /** AMQP: the queue's `x-message-ttl` and `x-expires` in ms (Celery: pidbox 300 s TTL, 10 s expiry). */
  readonly messageTtlMs?: number;
  readonly expiresMs?: number;
  /** Called when a received message cannot be decoded, or the subscription fails and is retried. */
  readonly onError?: (err: Error) => void;
}

export interface Broadcast {
  /** Send `message` to every current subscriber of `exchange` whose binding matches `routingKey`. */
  publish(exchange: Exchange, routingKey: string, message: WireMessage): Promise<void>;
  /** Resolves once subscribed: messages published after that are received. */
  subscribe(
    exchange: Exchange,
    bindingKey: string,
    handler: BroadcastHandler,
    options: SubscribeOptions,
  ): Promise<Subscription>;
  /**
   * Send a reply through the direct exchange `exchange` (Celery: `reply.celery.pidbox`) with routing key
   * `routingKey` (the client's oid): it reaches the reply queue opened with `replyQueue` for that key, if
   * any (Redis resolves `_kombu.binding.<exchange>`; AMQP publishes to the exchange).
   */
  reply(exchange: string, routingKey: string, message: WireMessage): Promise<void>;
  /**
   * Open a reply queue `queue` (Celery: `<oid>.reply.celery.pidbox`) bound to the direct exchange with
   * `routingKey`, and hand every reply to `handler` until closed; close deletes the queue and binding.
   */
  replyQueue(
    exchange: string,
    routingKey: string,
    queue: string,
    handler: BroadcastHandler,
    options?: { expiresMs?: number; onError?: (err: Error) => void },
  ): Promise<Subscription>;
}

/**
 * Does routing key `key` match binding key `binding` on an exchange of `type`? Topic: AMQP's words split
 * on '.', `*` one word, `#` zero or more. Fanout: a '' binding receives everything (AMQP ignores keys on
 * fanout exchanges); a non-empty one filters as a topic binding does (kombu on Redis puts the routing key
 * in the channel name, fanout_patterns, so `worker.#` receives only worker events there).
 */
export function bindingMatches(type: Exchange['type'], binding: string, key: string): boolean {
  if (binding === '#' || (type === 'fanout' && binding === '')) return true;
  return topicMatch(binding.split('.'), 0, key === '' ? [] : key.split('.'), 0);
}

function topicMatch(b: string[], i: number, k: string[], j: number): boolean {
  if (i === b.length) return j === k.length;
  const w = b[i];
  if (w === '#') {
    for (let n = j; n <= k.length; n++) if (topicMatch(b, i + 1, k, n)) return true;
    return false;
  }
  if (j === k.length) return false;
  return (w === '*' || w === k[j]) && topicMatch(b, i + 1, k, j + 1);
}
