/**
 * EventReceiver: subscribes to the `celeryev` exchange and hands each event to a handler by type, as
 * celery.events.receiver.EventReceiver does. Responsibilities:
 *  - subscribe with a queue of its own, `celeryev.<uuid>` bound to `#` (or a narrower binding key),
 *    with Celery's event queue TTL (5 s) and expiry (60 s) on RabbitMQ;
 *  - accept one event per message or a JSON list of them (`task.multi`, the prefork hub's batches);
 *  - keep the app's Lamport clock past every clock it sees; a client's task-sent clock is replaced by
 *    ours − 1 (clients never sync their clocks: Celery's CLIENT_CLOCK_SKEW);
 *  - move each `timestamp` by the sender's `utcoffset` against ours and stamp `local_received`;
 *  - `wakeup`: once subscribed, broadcast the remote-control `heartbeat` command, so workers answer
 *    with a worker-heartbeat at once instead of within 2 s (Flower does this);
 *  - contain failures: a message that is not JSON, or a handler that throws, goes to `onError` (or
 *    stderr) and the receiver goes on.
 *
 * Handlers, not an async iterator: events are fire-and-forget broadcasts that arrive whether or not
 * anyone reads them, so an iterator would need an unbounded buffer (or would drop silently) when its
 * reader is slow; a handler runs as each message arrives and a State folds it in place.
 */
import { randomUUID } from 'node:crypto';
import type { Subscription } from '../brokers/broadcast.js';
import type { Broker } from '../brokers/broker.js';
import { ConfigError } from '../errors.js';
import type { WireMessage } from '../protocol/message.js';
import { buildPidboxRequest, pidboxExchange } from '../protocol/pidbox.js';
import type { LamportClock } from '../util/lamport.js';
import { adjustTimestamp, type CeleryEvent, eventExchange, utcoffset } from './event.js';

export type EventHandler = (event: CeleryEvent) => void;

export interface ReceiverOptions {
  /** Handlers by event type (`task-succeeded`, `worker-heartbeat` …); `'*'` gets every other type. */
  readonly handlers: Readonly<Record<string, EventHandler>>;
  /** Binding key on the events exchange: `#` everything, `worker.#` worker events only. @defaultValue '#' */
  readonly bindingKey?: string;
  /** Ask every worker for a heartbeat once subscribed (the `heartbeat` control command). @defaultValue false */
  readonly wakeup?: boolean;
  /** Move timestamps by the sender's utcoffset (Celery's localize). @defaultValue true */
  readonly localize?: boolean;
  /** Undecodable messages and handlers that throw. @defaultValue a line on stderr */
  readonly onError?: (err: Error) => void;
  /** The queue name where the transport has one. @defaultValue `celeryev.<uuid>` */
  readonly queue?: string;
}

/** What a receiver needs of its app. */
export interface ReceiverHost {
  readonly clock: LamportClock;
  readonly conf: {
    readonly eventExchange: string;
    /** Celery's control_exchange: the wakeup goes to `<this>.pidbox`. */
    readonly controlExchange: string;
    readonly eventQueueTtl: number | null;
    readonly eventQueueExpires: number | null;
  };
  broker(): Promise<Broker>;
}

export class EventReceiver {
  readonly #host: ReceiverHost;
  readonly #o: ReceiverOptions;
  readonly #handlers: ReadonlyMap<string, EventHandler>;
  readonly #any: EventHandler | undefined;
  readonly #onError: (err: Error) => void;
  #sub: Promise<Subscription> | null = null;
  #closed = false;

  constructor(host: ReceiverHost, options: ReceiverOptions) {
    if (!options || typeof options.handlers !== 'object' || options.handlers === null)
      throw new ConfigError(
        "events.receiver({ handlers }): handlers must be an object of functions by event type, e.g. { 'task-succeeded': fn, '*': fn }",
      );
    for (const [type, fn] of Object.entries(options.handlers))
      if (typeof fn !== 'function')
        throw new ConfigError(`events.receiver: the handler for "${type}" must be a function`);
    this.#host = host;
    this.#o = options;
    this.#handlers = new Map(Object.entries(options.handlers));
    this.#any = options.handlers['*'];
    this.#onError = options.onError ?? ((err) => process.stderr.write(`celeriac events: ${err.message}\n`));
  }

  /** Subscribe; resolves once events published from now on are received. */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new ConfigError('this event receiver is closed'));
    this.#sub ??= this.#subscribe();
    return this.#sub.then(() => undefined);
  }

  async #subscribe(): Promise<Subscription> {
    const broker = await this.#host.broker();
    const bc = broker.broadcast;
    if (!bc || !broker.capabilities.broadcast)
      throw new ConfigError(
        `the ${broker.transport} broker has no broadcast exchanges, so it carries no events (use Redis, RabbitMQ or memory://)`,
      );
    const conf = this.#host.conf;
    const ms = (s: number | null) => (s === null ? undefined : Math.round(s * 1000));
    const ttl = ms(conf.eventQueueTtl);
    const expires = ms(conf.eventQueueExpires);
    const sub = await bc.subscribe(
      eventExchange(broker.transport, conf.eventExchange),
      this.#o.bindingKey ?? '#',
      (m) => this.#receive(m.message),
      {
        queue: this.#o.queue ?? `celeryev.${randomUUID()}`,
        ...(ttl !== undefined ? { messageTtlMs: ttl } : {}),
        ...(expires !== undefined ? { expiresMs: expires } : {}),
        onError: this.#onError,
      },
    );
    if (this.#o.wakeup) await this.#wakeup(broker).catch(this.#onError);
    return sub;
  }

  /** Celery's wakeup_workers: a `heartbeat` control broadcast (a cast: no reply is asked for). */
  async #wakeup(broker: Broker): Promise<void> {
    const { conf, clock } = this.#host;
    const req = { method: 'heartbeat', arguments: {}, destination: null, pattern: null, matcher: null };
    const message = buildPidboxRequest(req, { clock: clock.forward(), expires: 0 });
    await broker.broadcast?.publish(pidboxExchange(conf.controlExchange), '', message);
  }

  #receive(message: WireMessage): void {
    let body: unknown;
    try {
      body = JSON.parse(message.body.toString('utf8'));
    } catch (err) {
      this.#onError(new Error(`an event message is not JSON (${(err as Error).message}); skipped`));
      return;
    }
    if (Array.isArray(body)) for (const e of body) this.#one(e);
    else this.#one(body);
  }

  #one(raw: unknown): void {
    if (!raw || typeof raw !== 'object' || typeof (raw as CeleryEvent).type !== 'string') {
      this.#onError(new Error('an event without a type was skipped'));
      return;
    }
    const event = raw as CeleryEvent;
    const clock = this.#host.clock;
    if (event.type === 'task-sent') {
      event.clock = (clock.value || 1) - 1;
      clock.adjust(event.clock);
    } else if (event.clock === undefined || event.clock === null) event.clock = clock.forward();
    else clock.adjust(event.clock);
    if (
      this.#o.localize !== false &&
      typeof event.utcoffset === 'number' &&
      typeof event.timestamp === 'number'
    )
      event.timestamp = adjustTimestamp(event.timestamp, event.utcoffset, utcoffset());
    event.local_received = Date.now() / 1000;
    const handler = this.#handlers.get(event.type) ?? this.#any;
    if (!handler) return;
    try {
      handler(event);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.#onError(new Error(`the handler of ${event.type} threw: ${e.message}`, { cause: e }));
    }
  }

  /** Stop receiving and delete the queue. */
  async close(): Promise<void> {
    this.#closed = true;
    const sub = this.#sub;
    this.#sub = null;
    if (sub)
      await sub.then(
        (s) => s.close(),
        () => undefined,
      );
  }
}
