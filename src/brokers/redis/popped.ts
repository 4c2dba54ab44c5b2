/**
 * Popped: the messages a BRPOP handed out before they were recorded in `unacked`, and that record.
 *
 * An idle worker's round trip is mostly waits on the wire, and on a small machine every socket write on
 * the way costs its share too. So a message BRPOP popped is handed out at once (the task starts one round
 * trip sooner), and its record is not written by itself:
 *  - it goes with the worker's next non-blocking take, one TAKE script call for both (the consumer takes
 *    again right after handing the message out);
 *  - or, when the task is acked before that take (acks early: at start, in the same turn), it is never
 *    written: the record and the ack would cancel out in Redis, two writes for nothing. The message then
 *    behaves as kombu's does when its ack lands right after the pop;
 *  - or, if neither comes in this event-loop turn, by itself at the end of the turn.
 * Until the record is written the message exists only in this process, as it does while kombu's
 * QoS.append is on its way; the window is this turn, never longer. Acks, requeues and discards wait for
 * the record (`settled()`), so none reaches Redis before it. A record that fails is retried until it
 * succeeds (the message is in no queue meanwhile); at close it is pushed back to the front of its list.
 */

import { brokerError } from '../../drivers/redis/connection.js';
import { type Taken, taken } from '../virtual.js';
import { parseEnvelope } from './envelope.js';
import { held, type Leases } from './lease.js';
import { type TakeHost, type TakeOrder, takeNow } from './take.js';

/** What the records need of the store, besides a take's host. */
export interface PoppedHost extends TakeHost {
  /** True once the store is closing: a failed record then goes back to its list instead of retrying. */
  readonly closed: boolean;
  onError(err: Error): void;
}

interface Pending {
  /** The queue set (take signature) whose BRPOP popped it. */
  sig: string;
  order: TakeOrder;
  popped: [string, string];
  early: Taken;
}

export class PoppedRecords {
  readonly #host: PoppedHost;
  readonly #leases: Leases;
  /** Handed out, not recorded yet, by delivery tag (one per blocking wait; usually one). */
  readonly #pending = new Map<string, Pending>();
  #flushQueued = false;
  /** The queue set of the last popped message acked before its record was written (see take). */
  #justDropped: string | null = null;
  /** Records on their way: acks and requeues wait for them. */
  #committing: Promise<void> | null = null;
  /** Deliveries recorded under a fresh tag (duplicate): the tag handed out → the tag in Redis. */
  readonly alias = new Map<string, string>();

  constructor(host: PoppedHost, leases: Leases) {
    this.#host = host;
    this.#leases = leases;
  }

  /**
   * Hand out a message BRPOP popped, to be recorded later (see the module comment). Null when the envelope
   * needs the careful path (undecodable, no delivery tag, a tag we hold already): `commit` records or
   * reports it before anything runs.
   */
  start(sig: string, order: TakeOrder, popped: [string, string]): Taken | null {
    const entry = order.find((o) => o.key === popped[0]);
    if (!entry) return null;
    let parsed: ReturnType<typeof parseEnvelope>;
    try {
      parsed = parseEnvelope(popped[1]);
    } catch {
      return null;
    }
    const tag = parsed.tag;
    if (!tag || this.#leases.held.has(tag) || this.#pending.has(tag)) return null;
    this.#leases.held.set(tag, held(entry.queue, parsed));
    this.#leases.lost.delete(tag);
    const early = taken(tag, entry.queue, parsed.message, parsed.redelivered);
    this.#pending.set(tag, { sig, order, popped, early });
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
    return early;
  }

  /**
   * A non-blocking take of up to `max` for these queues, carrying the record of a message they popped
   * that is still pending: one script call for both. Returns only the new messages.
   *
   * Right after a popped message was acked in its own turn (nothing to carry), the take waits until this
   * turn's writes are out: the consumer takes again before the task it just started has settled, so
   * otherwise the take's script call goes first and the task's result waits behind its JS and its write.
   * On an idle worker that take finds nothing; under load the queue's messages wait one turn more.
   */
  async take(sig: string, order: TakeOrder, max: number): Promise<Taken[]> {
    let mine: Pending | undefined;
    for (const p of this.#pending.values()) {
      if (p.sig === sig) {
        mine = p;
        break;
      }
    }
    if (!mine) {
      if (this.#justDropped === sig) {
        this.#justDropped = null;
        // An immediate inside an immediate: the result coalescer's flush, queued later in this turn, runs
        // in between.
        await new Promise((r) => setImmediate(() => setImmediate(r)));
      }
      return takeNow(this.#host, this.#leases, order, max, null);
    }
    const p = mine;
    this.#pending.delete(p.early.tag);
    const run = takeNow(this.#host, this.#leases, p.order, max + 1, p.popped, p.early);
    // Failed: the take's caller backs off, and the record is retried on its own until it succeeds.
    this.#track(
      run.then(
        (t) => this.#recordedAs(p.early, t),
        () => this.#commitPending(p),
      ),
    );
    const all = await run;
    return all.slice(1); // the first is the popped message (TAKE records it first), handed out already
  }

  /** Ack or discard of a delivery whose record was never written: nothing to write. True when it was one. */
  drop(tag: string): boolean {
    const p = this.#pending.get(tag);
    if (!p) return false;
    this.#pending.delete(tag);
    this.#justDropped = p.sig;
    this.#leases.held.delete(tag);
    return true;
  }

  /** Write pending records now, and resolve once every record so far is in Redis. */
  async settled(): Promise<void> {
    if (this.#pending.size) this.#flush();
    if (this.#committing) await this.#committing;
  }

  /**
   * Record a popped message (and take up to max-1 more). It exists only in our memory until this
   * succeeds, so retry through connection trouble; at close, push it back to the front of its list.
   */
  async commit(
    order: TakeOrder,
    max: number,
    popped: [string, string],
    early: Taken | null = null,
  ): Promise<Taken[]> {
    let delay = 100;
    for (;;) {
      try {
        return await takeNow(this.#host, this.#leases, order, max, popped, early);
      } catch (err) {
        if (this.#host.closed) {
          await this.#host.client.rpush(popped[0], popped[1]).catch(() => {});
          throw err;
        }
        this.#host.onError(brokerError('recording a popped message failed; retrying', err));
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  #flush(): void {
    for (const p of this.#pending.values()) this.#track(this.#commitPending(p));
    this.#pending.clear();
  }

  #commitPending(p: Pending): Promise<void> {
    return this.commit(p.order, 1, p.popped, p.early).then(
      (t) => this.#recordedAs(p.early, t),
      (err: unknown) => this.#host.onError(brokerError('recording a popped message failed', err)),
    );
  }

  /** Recorded under a fresh tag (another consumer's unacked entry has this one): acks and requeues go there. */
  #recordedAs(early: Taken, recorded: Taken[]): void {
    const real = recorded[0]?.tag;
    if (real && real !== early.tag) {
      this.#leases.held.delete(early.tag);
      this.alias.set(early.tag, real);
    }
  }

  #track(commit: Promise<void>): void {
    const prev = this.#committing;
    const all = prev ? Promise.all([prev, commit]).then(() => {}) : commit;
    this.#committing = all;
    void all.then(() => {
      if (this.#committing === all) this.#committing = null;
    });
  }
}
