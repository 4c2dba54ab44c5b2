/**
 * EventDispatcher: sends Celery events on the `celeryev` exchange through `broker.broadcast`, as
 * celery.events.dispatcher.EventDispatcher does. Responsibilities:
 *  - stamp every event with Celery's common fields: hostname, utcoffset, pid, clock (the app's Lamport
 *    clock, ticked per event), timestamp (float epoch seconds) and type;
 *  - envelope: JSON body, headers `{hostname}`, delivery_mode 1 (transient), routing key = type with
 *    '-' → '.';
 *  - batch the groups named in `bufferGroups` (the worker buffers `task`, as Celery's prefork hub does):
 *    events buffered in one tick go out together as one JSON list under `<group>.multi`, flushed on the
 *    next turn of the event loop (setImmediate) or at once when `bufferLimit` (24, Celery's
 *    buffer_limit) are waiting. Under load that is one broker round trip for up to 24 events instead of
 *    24; when idle it is one event per message, sent one tick later;
 *  - fire and forget: events are monitoring, not data. A publish that fails is logged (once per run of
 *    failures, not once per event) and the event is dropped; Celery buffers while offline, but a
 *    receiver that was away has lost the PUB/SUB messages anyway, and the next heartbeat says it all.
 * `close()` flushes and waits for the publishes in flight, so `worker-offline` leaves before the broker
 * connection closes.
 */
import type { Broadcast, Exchange } from '../brokers/broadcast.js';
import type { WireMessage } from '../protocol/message.js';
import type { LamportClock } from '../util/lamport.js';
import type { Logger } from '../util/log.js';
import { routingKeyOf, utcoffset } from './event.js';

export interface DispatcherOptions {
  readonly broadcast: Broadcast;
  readonly exchange: Exchange;
  readonly hostname: string;
  readonly clock: LamportClock;
  readonly logger: Logger;
  /** Event groups sent in batches (`['task']` in a worker). @defaultValue [] */
  readonly bufferGroups?: readonly string[];
  /** Flush a batch at once when it reaches this many events. @defaultValue 24 */
  readonly bufferLimit?: number;
}

interface Buffered {
  /** The type of the first event: a batch of one goes out under its own routing key. */
  first: string;
  texts: string[];
}

export class EventDispatcher {
  readonly hostname: string;
  readonly #o: DispatcherOptions;
  readonly #bufferGroups: ReadonlySet<string>;
  readonly #limit: number;
  /** Buffered events (their JSON text) by group. */
  readonly #buffers = new Map<string, Buffered>();
  readonly #hostJson: string;
  #flushQueued = false;
  #offset = 0;
  #offsetUntil = 0;
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];
  #failing = false;
  #closed = false;

  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.hostname = options.hostname;
    this.#hostJson = JSON.stringify(options.hostname);
    this.#bufferGroups = new Set(options.bufferGroups ?? []);
    this.#limit = options.bufferLimit ?? 24;
  }

  /**
   * Send an event of `type` with `fields` (Celery's names, JSON-safe); buffered groups go out on the
   * next tick. The common fields are the dispatcher's: `fields` must not carry them.
   */
  send(type: string, fields: Record<string, unknown>): void {
    if (this.#closed) return;
    const now = Date.now();
    // The offset changes twice a year: read it (a Date) once a minute, not per event.
    if (now >= this.#offsetUntil) {
      this.#offset = utcoffset(new Date(now));
      this.#offsetUntil = now + 60_000;
    }
    // The JSON text is made here, once: the event's own fields through JSON.stringify, the common ones
    // written around them (no copy of the object, fewer keys for the serializer per event).
    const own = JSON.stringify(fields);
    const text = `{"hostname":${this.#hostJson},"utcoffset":${this.#offset},"pid":${process.pid},"clock":${this.#o.clock.forward()},"timestamp":${now / 1000},"type":${JSON.stringify(type)}${own.length > 2 ? `,${own.slice(1)}` : '}'}`;
    const dash = type.indexOf('-');
    const group = dash < 0 ? type : type.slice(0, dash);
    if (!this.#bufferGroups.has(group)) {
      this.#publish(routingKeyOf(type), text);
      return;
    }
    let buf = this.#buffers.get(group);
    if (!buf) {
      buf = { first: type, texts: [] };
      this.#buffers.set(group, buf);
    }
    if (buf.texts.length === 0) buf.first = type;
    buf.texts.push(text);
    if (buf.texts.length >= this.#limit) this.#flushGroup(group, buf);
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(this.#flushTick);
    }
  }

  readonly #flushTick = (): void => {
    this.#flushQueued = false;
    this.flush();
  };

  /** Send what is buffered now. */
  flush(): void {
    for (const [group, buf] of this.#buffers) if (buf.texts.length) this.#flushGroup(group, buf);
  }

  #flushGroup(group: string, buf: Buffered): void {
    // A batch of one goes out as that event under its own key: cheaper for receivers, same meaning.
    if (buf.texts.length === 1) this.#publish(routingKeyOf(buf.first), buf.texts[0] as string);
    else this.#publish(`${group}.multi`, `[${buf.texts.join(',')}]`);
    buf.texts.length = 0;
  }

  #publish(routingKey: string, body: string): void {
    const message: WireMessage = {
      body: Buffer.from(body),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      // Fresh objects per message: an adapter may add to them (the batch makes this rare per event).
      headers: { hostname: this.hostname },
      properties: { delivery_mode: 1 },
    };
    this.#inFlight++;
    this.#o.broadcast.publish(this.#o.exchange, routingKey, message).then(this.#sent, this.#failed);
  }

  readonly #sent = (): void => {
    this.#failing = false;
    this.#done();
  };

  readonly #failed = (err: unknown): void => {
    if (!this.#failing) {
      this.#failing = true;
      const why = err instanceof Error ? err.message : String(err);
      this.#o.logger.log(
        'warn',
        `events: could not send an event (dropped until the broker is back): ${why}`,
      );
    }
    this.#done();
  };

  #done(): void {
    if (--this.#inFlight > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Flush, then resolve once every publish has ended. Later sends are ignored. */
  async close(): Promise<void> {
    this.flush();
    this.#closed = true;
    while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}
