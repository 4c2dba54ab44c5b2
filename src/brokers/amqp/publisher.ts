/**
 * Task publishing with publisher confirms, pipelined. Responsibilities:
 *  - every message is written at once on the shared ConfirmChannel and its promise settles on *its own*
 *    confirm: many publishes are in flight together (no waitForConfirms, no lock), and amqplib maps a
 *    `multiple` ack onto every message it covers;
 *  - a nack (the broker refused the message, e.g. a full queue with `x-overflow: reject-publish`) rejects
 *    that message only;
 *  - back-pressure: when amqplib reports the socket full (`publish` returned false), later writes wait
 *    for `drain` instead of buffering without bound;
 *  - a channel or connection lost before a confirm: exactly the unconfirmed messages are affected. Each is
 *    sent again once reconnected (at least once, as kombu's publish retry), and every resend is reported
 *    through onError, never silent; it is rejected when it cannot be (the broker or link is closed, or
 *    PUBLISH_ATTEMPTS ran out).
 * The fast path (channel open, queue declared) writes synchronously in the caller's tick: an awaited
 * publish costs one confirm round trip and nothing else.
 */
import type { ConfirmChannel } from 'amqplib';
import { type AmqpLink, type ChannelSlot, drained } from '../../drivers/amqp/link.js';
import { BrokerError } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import { publishOptions } from './message.js';

/** Times a message is written before its loss (channel or connection gone before the confirm) fails it. */
export const PUBLISH_ATTEMPTS = 5;

export interface Pending {
  queue: string;
  routingKey: string;
  exchange: string;
  message: WireMessage;
}

/** What the publisher needs of its broker: the confirm channel, queue declarations, whether it closed. */
export interface PublisherHost {
  readonly link: AmqpLink;
  readonly slot: ChannelSlot<ConfirmChannel>;
  /** Resolves once `queue` is declared on this connection (cached by the broker). */
  declare(queue: string): Promise<void>;
  /** True when `queue` is known declared on this connection (no await needed). */
  declared(queue: string): boolean;
  isClosed(): boolean;
}

type Outcome = 'ack' | 'nack' | 'lost';

export class ConfirmPublisher {
  readonly #host: PublisherHost;
  #draining: Promise<void> | null = null;
  /** Messages lost with their channel since the last report (reported once per loss, not per message). */
  #resending = 0;

  constructor(host: PublisherHost) {
    this.#host = host;
  }

  /** Every item in flight at once; rejects with the first failure once every item has settled. */
  async publish(items: readonly Pending[]): Promise<void> {
    if (items.length === 1) return this.#one(items[0] as Pending);
    const results = await Promise.allSettled(items.map((i) => this.#one(i)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed.length) return;
    if (failed.length === 1) throw failed[0]?.reason;
    const nacked = failed.filter((r) => /nack/.test(String((r.reason as Error)?.message))).length;
    throw new BrokerError(
      `${failed.length} of ${items.length} message(s) were not published` +
        (nacked ? ` (${nacked} refused by RabbitMQ: nack, e.g. a full queue)` : '') +
        `: ${(failed[0]?.reason as Error)?.message}`,
      { retryable: nacked === 0, cause: failed[0]?.reason },
    );
  }

  async #one(item: Pending): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.#host.isClosed()) throw new BrokerError('broker is closed', { retryable: false });
      const outcome = await this.#attempt(item, attempt > 1);
      if (outcome === 'ack') return;
      if (outcome === 'nack') {
        throw new BrokerError(`RabbitMQ refused the message for "${item.queue}" (nack), e.g. a full queue`, {
          retryable: false,
        });
      }
      if (this.#host.isClosed() || attempt >= PUBLISH_ATTEMPTS) {
        throw new BrokerError(
          `could not publish to "${item.queue}": its channel closed before RabbitMQ confirmed it` +
            (this.#host.isClosed() ? ' (the broker is closed)' : ` (${attempt} attempts)`),
          { retryable: true },
        );
      }
    }
  }

  /**
   * One write and its confirm; `again`: the previous write was lost with its channel. The awaits are
   * skipped when the channel is open and the queue declared.
   */
  #attempt(item: Pending, again: boolean): Promise<Outcome> | Outcome {
    const ch = this.#host.slot.ready;
    if (ch && !again && !this.#draining && this.#host.declared(item.queue)) return this.#write(ch, item);
    return this.#slowAttempt(item, again);
  }

  async #slowAttempt(item: Pending, again: boolean): Promise<Outcome> {
    let ch: ConfirmChannel;
    try {
      ch = await this.#host.slot.get();
      await this.#host.declare(item.queue);
    } catch (err) {
      // No channel (the link gave up or was closed): this write never happened, so there is nothing to
      // send again; a lost earlier write is named, as it may or may not have reached the queue.
      if (!again) throw err;
      const lost = 'its channel closed before RabbitMQ confirmed it, and';
      throw new BrokerError(`could not publish to "${item.queue}": ${lost} ${(err as Error).message}`, {
        retryable: err instanceof BrokerError ? err.retryable : true,
        cause: err,
      });
    }
    while (this.#draining) await this.#draining;
    if (again) this.#reportResend();
    return this.#write(ch, item);
  }

  #write(ch: ConfirmChannel, item: Pending): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const confirmed = (err: Error | null) => {
        if (settled) return;
        settled = true;
        // amqplib: null is an ack, 'message nacked' a nack, anything else the channel closing under it.
        resolve(err === null ? 'ack' : err.message === 'message nacked' ? 'nack' : 'lost');
      };
      let writable = true;
      try {
        writable = ch.publish(
          item.exchange,
          item.routingKey,
          item.message.body,
          publishOptions(item.message),
          confirmed,
        );
      } catch (err) {
        confirmed(err as Error); // the channel closed under us (IllegalOperationError): never written
      }
      if (!writable) {
        this.#draining ??= drained(ch).finally(() => {
          this.#draining = null;
        });
      }
    });
  }

  /** Losses arrive one callback per message as a channel closes; one report covers them all. */
  #reportResend(): void {
    if (this.#resending++ > 0) return;
    setImmediate(() => {
      const n = this.#resending;
      this.#resending = 0;
      this.#host.link.onError(
        new BrokerError(
          `${n} publish(es) lost their channel before RabbitMQ confirmed them: sending them again (a message may arrive twice)`,
          { retryable: true },
        ),
      );
    });
  }
}
