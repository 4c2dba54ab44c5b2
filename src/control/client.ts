/**
 * The remote-control client (Celery's app.control: Control and Inspect; kombu's Mailbox._broadcast and
 * _collect). `broadcast` publishes one request to the `<controlExchange>.pidbox` fanout exchange; when a
 * reply is wanted it carries a fresh ticket and `reply_to` = this app's reply exchange and oid, and the
 * replies with that ticket are collected from the app's reply queue `<oid>.reply.<exchange>.pidbox`.
 *
 * Collection follows kombu: it ends when `limit` replies came (the destination's length when a
 * destination is given) or when `timeout` seconds (default 1) pass without a new reply, so one slow
 * worker among many does not cut the others off. The reply queue is opened on first use and shared by
 * concurrent calls (replies are told apart by ticket; a reply whose call has ended is dropped), and
 * closed by `close()` (the app's `close()` does it).
 *
 * Control commands default to fire-and-forget as in Celery (`reply: true` to collect replies); `ping`
 * and every Inspect method collect.
 */
import type { Settings } from '../app/config.js';
import type { Broadcast, Subscription } from '../brokers/broadcast.js';
import type { Broker } from '../brokers/broker.js';
import { ConfigError } from '../errors.js';
import { uuid } from '../protocol/oid.js';
import { buildPidboxRequest, parsePidboxReply, pidboxExchange } from '../protocol/pidbox.js';
import type { LamportClock } from '../util/lamport.js';
import { matchName } from './match.js';

/** What the client needs of an app. */
export interface ControlApp {
  readonly conf: Readonly<Settings>;
  readonly clock: LamportClock;
  readonly oid: string;
  broker(): Promise<Broker>;
}

/** One node's reply, keyed by its node name: `{ 'w1@host': { ok: 'pong' } }`. */
export type NodeReply<T = unknown> = Record<string, T>;

export interface SelectOptions {
  /** Node names to ask; none means every worker. A string is one node. */
  destination?: string | readonly string[] | null;
  /** Select nodes by name: with `matcher` 'glob' (fnmatch) or 'pcre' (Python's re.match). */
  pattern?: string | null;
  matcher?: 'glob' | 'pcre' | null;
  /** Seconds to wait for the next reply. @defaultValue 1 */
  timeout?: number;
  /** Stop after this many replies. @defaultValue the destination's length, else no limit */
  limit?: number | null;
  /** Called with each reply as it comes. */
  callback?: (reply: NodeReply) => void;
}

export interface BroadcastOptions extends SelectOptions {
  /** Collect replies (Celery's reply=True). @defaultValue false */
  reply?: boolean;
}

interface Collector {
  replies: NodeReply[];
  callback: ((reply: NodeReply) => void) | undefined;
  got(): void;
}

const list = (d: SelectOptions['destination']): string[] | null =>
  d === undefined || d === null ? null : typeof d === 'string' ? [d] : [...d];

/** Celery's flatten_reply: one object by node name. */
export function flattenReplies<T = unknown>(replies: readonly NodeReply<T>[]): NodeReply<T> {
  const out: NodeReply<T> = {};
  for (const r of replies) Object.assign(out, r);
  return out;
}

export class Control {
  readonly #app: ControlApp;
  #replyQueue: Promise<Subscription> | null = null;
  readonly #pending = new Map<string, Collector>();

  constructor(app: ControlApp) {
    this.#app = app;
  }

  get #exchange(): string {
    return this.#app.conf.controlExchange;
  }

  async #broadcast(): Promise<Broadcast> {
    const broker = await this.#app.broker();
    if (!broker.broadcast || !broker.capabilities.broadcast)
      throw new ConfigError(
        `remote control needs a broker that carries broadcasts (Redis, RabbitMQ, memory); the ${broker.transport} broker has none`,
      );
    return broker.broadcast;
  }

  #openReplyQueue(bc: Broadcast): Promise<Subscription> {
    if (this.#replyQueue) return this.#replyQueue;
    const { conf, clock, oid } = this.#app;
    const ex = `reply.${this.#exchange}.pidbox`;
    const expires = conf.controlQueueExpires;
    this.#replyQueue = bc.replyQueue(
      ex,
      oid,
      `${oid}.${ex}`,
      (m) => {
        let parsed: ReturnType<typeof parsePidboxReply>;
        try {
          parsed = parsePidboxReply(m.message, conf.acceptContent);
        } catch {
          return; // not a reply we can read: nobody is waiting for it
        }
        clock.adjust(parsed.clock ?? 0);
        const c = parsed.ticket === null ? undefined : this.#pending.get(parsed.ticket);
        if (!c) return; // its call has ended (kombu keeps these as "unclaimed"; nothing would read them)
        c.replies.push(parsed.body);
        c.callback?.(parsed.body);
        c.got();
      },
      expires ? { expiresMs: Math.round(expires * 1000) } : {},
    );
    this.#replyQueue.catch(() => {
      this.#replyQueue = null;
    });
    return this.#replyQueue;
  }

  /**
   * Send `method` with `args` to the selected workers. With `reply: true`, resolves with the replies as
   * Celery's broadcast returns them: a list of `{node: reply}`.
   */
  async broadcast(
    method: string,
    args: Record<string, unknown> = {},
    options: BroadcastOptions = {},
  ): Promise<NodeReply[]> {
    const bc = await this.#broadcast();
    const destination = list(options.destination);
    const timeout = options.timeout ?? 1;
    const { conf, clock, oid } = this.#app;
    const req = {
      method,
      arguments: args,
      destination,
      pattern: options.pattern ?? null,
      matcher: options.matcher ?? null,
    };
    const expires = Date.now() / 1000 + timeout;
    const exchange = pidboxExchange(this.#exchange);
    if (!options.reply) {
      await bc.publish(
        exchange,
        '',
        buildPidboxRequest(req, { clock: clock.forward(), expires, serializer: conf.taskSerializer }),
      );
      return [];
    }
    await this.#openReplyQueue(bc);
    const ticket = uuid();
    const limit = options.limit ?? (destination?.length ? destination.length : null);
    let timer: NodeJS.Timeout | null = null;
    const done = new Promise<NodeReply[]>((resolve) => {
      const finish = () => {
        if (timer) clearTimeout(timer);
        this.#pending.delete(ticket);
        resolve(c.replies);
      };
      const arm = () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(finish, timeout * 1000);
      };
      const c: Collector = {
        replies: [],
        callback: options.callback,
        got: () => (limit !== null && c.replies.length >= limit ? finish() : arm()),
      };
      this.#pending.set(ticket, c);
      arm();
    });
    try {
      await bc.publish(
        exchange,
        '',
        buildPidboxRequest(
          { ...req, ticket, reply_to: { exchange: `reply.${this.#exchange}.pidbox`, routing_key: oid } },
          { clock: clock.forward(), expires, serializer: conf.taskSerializer },
        ),
      );
    } catch (err) {
      if (timer) clearTimeout(timer);
      this.#pending.delete(ticket);
      throw err;
    }
    return done;
  }

  /** An Inspect for the selected workers (Celery's app.control.inspect()). */
  inspect(options: SelectOptions = {}): Inspect {
    return new Inspect(this, options);
  }

  /** `[{node: {ok: 'pong'}}, …]`, one entry per worker that answered. */
  ping(options: SelectOptions = {}): Promise<NodeReply[]> {
    return this.broadcast('ping', {}, { ...options, reply: true });
  }

  /**
   * Do not run these tasks; with `terminate`, also stop them where they run now (`signal` names the
   * signal for process pools, default SIGTERM). Remembered by every worker that gets it (and, through
   * mingle, by workers that start later).
   */
  revoke(
    taskId: string | readonly string[],
    options: BroadcastOptions & { terminate?: boolean; signal?: string } = {},
  ): Promise<NodeReply[]> {
    const { terminate = false, signal = 'SIGTERM', ...rest } = options;
    const ids = typeof taskId === 'string' ? taskId : [...taskId];
    return this.broadcast('revoke', { task_id: ids, terminate, signal }, rest);
  }

  /** revoke with terminate. */
  terminate(taskId: string | readonly string[], options: BroadcastOptions & { signal?: string } = {}) {
    return this.revoke(taskId, { ...options, terminate: true });
  }

  /** Set a task's rate limit at run time ('10/m', '5/s', a number per second; 0 or '' turns it off). */
  rateLimit(taskName: string, rateLimit: string | number, options: BroadcastOptions = {}) {
    return this.broadcast('rate_limit', { task_name: taskName, rate_limit: rateLimit }, options);
  }

  /** Set a task's time limits at run time, in seconds (null: none). */
  timeLimit(
    taskName: string,
    limits: { soft?: number | null; hard?: number | null },
    options: BroadcastOptions = {},
  ) {
    return this.broadcast(
      'time_limit',
      { task_name: taskName, soft: limits.soft ?? null, hard: limits.hard ?? null },
      options,
    );
  }

  poolGrow(n = 1, options: BroadcastOptions = {}) {
    return this.broadcast('pool_grow', { n }, options);
  }

  poolShrink(n = 1, options: BroadcastOptions = {}) {
    return this.broadcast('pool_shrink', { n }, options);
  }

  autoscale(max: number, min: number, options: BroadcastOptions = {}) {
    return this.broadcast('autoscale', { max, min }, options);
  }

  /** Start consuming `queue` (exchange and routing key default to the queue's name, as Celery's). */
  addConsumer(
    queue: string,
    o: {
      exchange?: string;
      exchangeType?: string;
      routingKey?: string;
      options?: Record<string, unknown>;
    } = {},
    options: BroadcastOptions = {},
  ) {
    return this.broadcast(
      'add_consumer',
      {
        queue,
        exchange: o.exchange ?? null,
        exchange_type: o.exchangeType ?? 'direct',
        routing_key: o.routingKey ?? null,
        ...o.options,
      },
      options,
    );
  }

  cancelConsumer(queue: string, options: BroadcastOptions = {}) {
    return this.broadcast('cancel_consumer', { queue }, options);
  }

  enableEvents(options: BroadcastOptions = {}) {
    return this.broadcast('enable_events', {}, options);
  }

  disableEvents(options: BroadcastOptions = {}) {
    return this.broadcast('disable_events', {}, options);
  }

  heartbeat(options: BroadcastOptions = {}) {
    return this.broadcast('heartbeat', {}, options);
  }

  /** Warm shutdown of the selected workers (they do not reply). */
  shutdown(options: BroadcastOptions = {}) {
    return this.broadcast('shutdown', {}, options);
  }

  /** Close the reply queue (the app's close() calls this). */
  async close(): Promise<void> {
    const q = this.#replyQueue;
    this.#replyQueue = null;
    if (q) await (await q.catch(() => null))?.close();
  }
}

/** Celery's Inspect: every method resolves with `{node: reply}` of the workers that answered. */
export class Inspect {
  readonly #control: Control;
  readonly #o: SelectOptions;

  constructor(control: Control, options: SelectOptions) {
    this.#control = control;
    this.#o = options;
  }

  /** Send an inspect command by name and flatten the replies (Celery's Inspect._request). */
  async request<T = unknown>(method: string, args: Record<string, unknown> = {}): Promise<NodeReply<T>> {
    const replies = await this.#control.broadcast(method, args, { ...this.#o, reply: true });
    const byNode = flattenReplies(replies) as NodeReply<T>;
    const { pattern, matcher } = this.#o;
    if (pattern && matcher) {
      for (const node of Object.keys(byNode)) if (!matchName(node, pattern, matcher)) delete byNode[node];
    }
    return byNode;
  }

  ping() {
    return this.request<{ ok: string }>('ping');
  }
  stats() {
    return this.request<Record<string, unknown>>('stats');
  }
  /** Tasks running now; `safe` gives args and kwargs as repr strings. */
  active(safe: boolean | null = null) {
    return this.request<Record<string, unknown>[]>('active', { safe });
  }
  reserved() {
    return this.request<Record<string, unknown>[]>('reserved');
  }
  scheduled() {
    return this.request<Record<string, unknown>[]>('scheduled');
  }
  revoked() {
    return this.request<string[]>('revoked');
  }
  registered(...taskinfoitems: string[]) {
    return this.request<string[]>('registered', { taskinfoitems });
  }
  activeQueues() {
    return this.request<Record<string, unknown>[]>('active_queues');
  }
  queryTask(...ids: string[]) {
    return this.request<Record<string, [string, Record<string, unknown>]>>('query_task', { ids });
  }
  conf(withDefaults = false) {
    return this.request<Record<string, unknown>>('conf', { with_defaults: withDefaults });
  }
  clock() {
    return this.request<{ clock: number }>('clock');
  }
  report() {
    return this.request<{ ok: string }>('report');
  }
  /** Mingle's handshake: `{revoked, clock}` from every other worker. */
  hello(fromNode: string, revoked: Record<string, unknown> | null = null) {
    return this.request<{ revoked?: Record<string, unknown>; clock?: number } | null>('hello', {
      from_node: fromNode,
      revoked,
    });
  }
}
