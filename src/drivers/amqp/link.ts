/**
 * One AMQP connection that heals itself, owned by the AMQP broker or the rpc:// result backend.
 * Responsibilities:
 *  - connect (with heartbeats, a connect timeout and a connection name that `rabbitmqctl` shows);
 *  - on an unexpected close (broker restart, network cut, missed heartbeats) reconnect with exponential
 *    back-off and jitter, then run the `onUp` hooks so owners re-declare and resume consuming;
 *  - give up after `connectionMaxRetries` attempts, or at once on errors reconnecting cannot fix (bad
 *    credentials, unknown vhost), failing every waiter with a BrokerError that says why;
 *  - lend a lazily created admin channel for declarations, purge and size. A channel error (404, 406)
 *    closes only that channel; the next call opens a new one.
 * Every connection gets a new `generation`, so owners can tell a delivery tag of a dead channel from a
 * live one (acking a stale tag on a new channel would be a protocol error).
 */
import { hostname } from 'node:os';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { BrokerError } from '../../errors.js';
import { type Amqplib, loadAmqplib } from './driver.js';
import { type AmqpEndpoint, type AmqpOptions, parseEndpoint, safeUrl } from './options.js';

type UpHook = (generation: number) => Promise<void> | void;

/** AMQP reply codes (and socket errors) that no reconnect will cure. */
function isFatal(err: unknown): boolean {
  const msg = String((err as Error)?.message ?? err);
  return /ACCESS.REFUSED|NOT.ALLOWED|ENOTFOUND|ConnectionOpenOk; got <ConnectionClose/.test(msg);
}

export const isNotFound = (err: unknown): boolean => /NOT_FOUND|404/.test(String((err as Error)?.message));

/** amqplib reports a refused connection.open (unknown vhost, no permission) without the server's reason. */
function explain(err: unknown, vhost: string): string {
  const msg = String((err as Error)?.message ?? err);
  return /ConnectionOpenOk; got <ConnectionClose/.test(msg)
    ? `the server refused to open vhost "${vhost}" (NOT_ALLOWED: it does not exist, or the user has no permission on it)`
    : msg;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class AmqpLink {
  readonly #url: URL;
  readonly #endpoint: AmqpEndpoint;
  readonly #options: AmqpOptions;
  readonly #amqp: Amqplib;
  readonly #upHooks = new Set<UpHook>();
  readonly #downHooks = new Set<(err: Error) => void>();
  #conn: ChannelModel | null = null;
  #generation = 0;
  #closing = false;
  #failure: Error | null = null;
  #waiters: Array<{ resolve: (c: ChannelModel) => void; reject: (e: Error) => void }> = [];
  #establishing: Promise<void> | null = null;
  readonly #admin = new ChannelSlot<Channel>(() => this.channel());
  /** Called with errors that are handled (reconnects, lost channels), so the owner can log them. */
  onError: (err: Error) => void = () => {};

  constructor(url: URL, options: AmqpOptions) {
    this.#url = url;
    this.#endpoint = parseEndpoint(url);
    this.#options = options;
    this.#amqp = loadAmqplib(this.#endpoint.protocol);
  }

  get generation(): number {
    return this.#generation;
  }
  get isUp(): boolean {
    return this.#conn !== null;
  }
  get connectionName(): string {
    return this.#options.connectionName ?? `celeriac ${process.pid}@${hostname()}`;
  }

  /** Run on every (re)connection, after the connection is up and before waiters resume. */
  onUp(hook: UpHook): () => void {
    this.#upHooks.add(hook);
    return () => this.#upHooks.delete(hook);
  }
  onDown(hook: (err: Error) => void): () => void {
    this.#downHooks.add(hook);
    return () => this.#downHooks.delete(hook);
  }

  /**
   * Open the first connection; resolves once it is up. `once`: a single attempt, failing with a
   * retryable BrokerError that says why (the broker's start-up, brokers/connect.ts, retries and logs
   * each attempt as Celery does); otherwise retried as configured, silently (reported via onError).
   */
  async connect(options: { once?: boolean } = {}): Promise<void> {
    if (this.#conn) return;
    if (this.#failure) throw this.#failure;
    const first = this.#generation === 0 && !this.#establishing;
    await this.ready(first && options.once ? 1 : null);
  }

  /** The live connection; waits while (re)connecting, fails once the link gave up or was closed. */
  ready(attempts: number | null = null): Promise<ChannelModel> {
    if (this.#conn) return Promise.resolve(this.#conn);
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closing)
      return Promise.reject(new BrokerError('AMQP connection is closed', { retryable: false }));
    const p = new Promise<ChannelModel>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#establishing ??= this.#establish(attempts).finally(() => {
      this.#establishing = null;
    });
    return p;
  }

  async #establish(attempts: number | null): Promise<void> {
    const o = this.#options;
    let delay = o.reconnectMin * 1000;
    for (let attempt = 1; ; attempt++) {
      if (this.#closing) return;
      try {
        const conn = await this.#amqp.connect(
          { ...this.#endpoint, heartbeat: o.heartbeat },
          {
            ...o.tls,
            timeout: o.connectTimeout * 1000,
            noDelay: true,
            clientProperties: { connection_name: this.connectionName, product: 'celeriac' },
          },
        );
        if (this.#closing) {
          await conn.close().catch(() => {});
          return;
        }
        this.#attach(conn);
        return;
      } catch (err) {
        const fatal = isFatal(err);
        if (!fatal && attempts !== null && attempt >= attempts) {
          // A first connect of one attempt: fail the waiters, but leave the link usable for the next try.
          const why = new BrokerError(`Cannot connect to ${safeUrl(this.#url)}: ${(err as Error).message}`, {
            retryable: true,
            cause: err,
          });
          const waiters = this.#waiters;
          this.#waiters = [];
          for (const w of waiters) w.reject(why);
          return;
        }
        const limit = o.connectionMaxRetries;
        if (fatal || (limit !== null && attempt > limit)) {
          this.#fail(
            new BrokerError(
              `Cannot connect to ${safeUrl(this.#url)}: ${explain(err, this.#endpoint.vhost)}` +
                (fatal ? '' : ` (gave up after ${attempt} attempts)`),
              { retryable: false, cause: err },
            ),
          );
          return;
        }
        this.onError(
          new BrokerError(
            `AMQP connect attempt ${attempt} to ${safeUrl(this.#url)} failed: ${(err as Error).message}; retrying in ${Math.round(delay)} ms`,
            { retryable: true, cause: err },
          ),
        );
        await sleep(delay * (0.75 + Math.random() * 0.5));
        delay = Math.min(delay * 2, o.reconnectMax * 1000);
      }
    }
  }

  #attach(conn: ChannelModel): void {
    this.#generation++;
    const generation = this.#generation;
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (this.#conn === conn) this.#conn = null;
      this.#admin.reset();
      if (this.#closing) return;
      const why = new BrokerError(`AMQP connection lost: ${err?.message ?? 'closed by the server'}`, {
        retryable: true,
        cause: err,
      });
      this.onError(why);
      for (const h of this.#downHooks) h(why);
      // Reconnect right away if anyone is consuming; publishers reconnect on their next call anyway.
      void this.ready().catch(() => {});
    };
    conn.on('error', (err: Error) => onLost(err));
    conn.on('close', (err?: Error) => onLost(err));
    conn.on('blocked', (reason: string) =>
      this.onError(new BrokerError(`RabbitMQ blocked publishing: ${reason}`, { retryable: true })),
    );
    this.#conn = conn;
    void this.#runUpHooks(generation, conn);
  }

  async #runUpHooks(generation: number, conn: ChannelModel): Promise<void> {
    for (const hook of [...this.#upHooks]) {
      try {
        await hook(generation);
      } catch (err) {
        this.onError(err as Error);
      }
    }
    if (this.#conn !== conn) return; // lost again while the hooks ran; the next attempt serves waiters
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve(conn);
  }

  #fail(err: Error): void {
    this.#failure = err;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
    for (const h of this.#downHooks) h(err);
  }

  /** A new channel on the live connection. */
  async channel(): Promise<Channel> {
    return (await this.ready()).createChannel();
  }
  async confirmChannel(): Promise<ConfirmChannel> {
    return (await this.ready()).createConfirmChannel();
  }

  /**
   * Run `fn` on the shared admin channel. A channel-level error (missing queue, inequivalent arguments)
   * closes that channel, so it is dropped and the next call opens a fresh one.
   */
  async admin<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    return fn(await this.#admin.get());
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const conn = this.#conn;
    this.#conn = null;
    this.#admin.reset();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(new BrokerError('AMQP connection is closed', { retryable: false }));
    if (conn) await conn.close().catch(() => {});
  }
}

/**
 * A channel opened on first use and shared until it closes or errors; then it is dropped, so the next
 * `get()` opens a fresh one. A channel-level error (missing queue, inequivalent arguments) closes only
 * that channel, never the connection.
 */
export class ChannelSlot<C extends Channel> {
  readonly #open: () => Promise<C>;
  #current: Promise<C> | null = null;
  /** The channel once open, for callers that write without an await (the publisher's fast path). */
  #ready: C | null = null;

  constructor(open: () => Promise<C>) {
    this.#open = open;
  }

  /** The channel being opened or in use, if any. */
  get current(): Promise<C> | null {
    return this.#current;
  }

  /** The open channel, or null while none is (not opened yet, opening, closed). */
  get ready(): C | null {
    return this.#ready;
  }

  /** Forget the channel (its connection went away). */
  reset(): void {
    this.#current = null;
    this.#ready = null;
  }

  get(): Promise<C> {
    if (!this.#current) {
      const opening = this.#open().then((ch) => {
        const drop = () => {
          if (this.#current === opening) this.#current = null;
          if (this.#ready === ch) this.#ready = null;
        };
        ch.on('close', drop);
        ch.on('error', drop);
        if (this.#current === opening) this.#ready = ch;
        return ch;
      });
      this.#current = opening;
      opening.catch(() => {
        if (this.#current === opening) this.#current = null;
      });
    }
    return this.#current;
  }
}

/**
 * Resolves when a channel whose write buffer was full (`publish` returned false) can take more, or has
 * closed: publishers wait on it instead of buffering without bound.
 */
export function drained(ch: Channel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      ch.off('drain', done);
      ch.off('close', done);
      resolve();
    };
    ch.on('drain', done);
    ch.on('close', done);
  });
}
