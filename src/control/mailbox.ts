/**
 * A worker's pidbox node (kombu's pidbox.Node): it subscribes to the `<controlExchange>.pidbox` fanout
 * exchange with its own queue `<hostname>.<controlExchange>.pidbox`, keeps the requests meant for it
 * (match.ts), runs the handler of each one's method and, when the request asks for a reply, sends
 * `{<hostname>: reply}` with the request's ticket to the reply exchange and routing key it names.
 * Wire shapes: src/protocol/pidbox.ts; celery-wire.md §6.
 *
 * Behaviour kept from kombu and Celery, because clients (Python's `celery inspect`, Flower) rely on it:
 *  - the app's Lamport clock moves past every request's `clock` header, selected for this node or not,
 *    and ticks for every reply;
 *  - an unknown method still replies, `{"error": "KeyError('<method>')"}`; a handler that throws replies
 *    `{"error": "<Type>('<message>')"}` (Python's repr of the exception); a handler returning nothing
 *    replies null (`celery control heartbeat` shows `{"w1@h": null}`);
 *  - a handler may return NO_REPLY to send nothing at all: `shutdown` does (Celery's WorkerShutdown
 *    propagates before the reply, so `celery control shutdown` reports no reply from a Python worker
 *    either);
 *  - requests run one at a time, in arrival order, so `rate_limit` then `inspect` sees the new rate.
 * A request that cannot be decoded is logged and dropped; a failing reply is logged; nothing here stops
 * the worker.
 */
import type { Broadcast, Subscription } from '../brokers/broadcast.js';
import type { ControlHandler } from '../middleware/middleware.js';
import {
  buildPidboxReply,
  type PidboxRequest,
  parsePidboxRequest,
  pidboxExchange,
} from '../protocol/pidbox.js';
import { pyRepr } from '../protocol/repr.js';
import type { LamportClock } from '../util/lamport.js';
import type { Logger } from '../util/log.js';
import { selects } from './match.js';

/** Returned by a handler that must not reply (shutdown). */
export const NO_REPLY: unique symbol = Symbol('celeriac.control.noReply');

/** An Error whose repr in the reply is Python's `<type>('<message>')` (e.g. ValueError). */
export function pyError(type: string, message: string): Error {
  const e = new Error(message);
  e.name = type;
  return e;
}

/** Python's repr of an exception, as kombu puts it in an error reply. */
export function errorRepr(err: unknown): string {
  if (err instanceof Error) return `${err.name === 'Error' ? 'Exception' : err.name}(${pyRepr(err.message)})`;
  return `Exception(${pyRepr(String(err))})`;
}

export interface MailboxOptions {
  readonly broadcast: Broadcast;
  readonly hostname: string;
  readonly clock: LamportClock;
  readonly logger: Logger;
  readonly handlers: ReadonlyMap<string, ControlHandler>;
  /** Celery's control_exchange: requests come through `<exchange>.pidbox`. */
  readonly exchange: string;
  readonly accept: readonly string[];
  readonly serializer: string;
  /** Seconds (Celery's control_queue_ttl / control_queue_expires); null for none. AMQP queue arguments. */
  readonly queueTtl: number | null;
  readonly queueExpires: number | null;
}

export class Mailbox {
  readonly #o: MailboxOptions;
  #sub: Subscription | null = null;
  #chain: Promise<void> = Promise.resolve();

  constructor(options: MailboxOptions) {
    this.#o = options;
  }

  get queue(): string {
    return `${this.#o.hostname}.${this.#o.exchange}.pidbox`;
  }

  async start(): Promise<void> {
    const o = this.#o;
    this.#sub = await o.broadcast.subscribe(
      pidboxExchange(o.exchange),
      '',
      (m) => {
        this.#chain = this.#chain.then(() => this.handle(m.message));
      },
      {
        queue: this.queue,
        ...(o.queueTtl ? { messageTtlMs: Math.round(o.queueTtl * 1000) } : {}),
        ...(o.queueExpires ? { expiresMs: Math.round(o.queueExpires * 1000) } : {}),
        onError: (err) => o.logger.log('error', `remote control: ${err.message}`),
      },
    );
  }

  /** Stop listening; a request being handled finishes first. */
  async stop(): Promise<void> {
    const sub = this.#sub;
    this.#sub = null;
    await sub?.close();
    await this.#chain;
  }

  /** Handle one request message (public for tests that feed messages directly). */
  async handle(message: Parameters<typeof parsePidboxRequest>[0]): Promise<void> {
    const o = this.#o;
    let req: PidboxRequest;
    try {
      req = parsePidboxRequest(message, o.accept);
    } catch (err) {
      o.logger.log(
        'warn',
        `remote control: dropped a request that cannot be read: ${(err as Error).message}`,
      );
      return;
    }
    o.clock.adjust(message.headers.clock ?? 0);
    let mine: boolean;
    try {
      mine = selects(o.hostname, req);
    } catch (err) {
      o.logger.log(
        'warn',
        `remote control: pattern ${JSON.stringify(req.pattern)}: ${(err as Error).message}`,
      );
      return;
    }
    if (!mine) return;
    if (o.logger.enabled('debug'))
      o.logger.log(
        'debug',
        `remote control: ${req.method} ${JSON.stringify(req.arguments)} [ticket ${req.ticket ?? '-'}]`,
      );
    let reply: unknown;
    const handler = o.handlers.get(req.method);
    if (!handler) reply = { error: errorRepr(pyError('KeyError', req.method)) };
    else {
      try {
        reply = await handler(req.arguments);
      } catch (err) {
        o.logger.log('error', `remote control: ${req.method} failed: ${(err as Error)?.stack ?? err}`);
        reply = { error: errorRepr(err) };
      }
    }
    if (reply === NO_REPLY || !req.ticket || !req.reply_to) return;
    try {
      await o.broadcast.reply(
        req.reply_to.exchange,
        req.reply_to.routing_key,
        buildPidboxReply(o.hostname, reply, {
          ticket: req.ticket,
          clock: o.clock.forward(),
          serializer: o.serializer,
        }),
      );
    } catch (err) {
      o.logger.log('error', `remote control: could not reply to ${req.method}: ${(err as Error).message}`);
    }
  }
}
