/**
 * rpc:// — results sent back as AMQP messages to the calling client's own reply queue, compatible with
 * Celery's rpc backend in both directions (../shared/docs/celery-wire.md §3.4).
 *
 * | aspect         | behaviour |
 * |----------------|-----------|
 * | URL            | `rpc://` (no host: it uses the broker's AMQP URL, given as `options.brokerUrl`) |
 * | reply queue    | named after the client's oid (the `reply_to` of every task it sends), bound to the default exchange; non-durable, `x-expires` = resultExpires |
 * | worker side    | `store()` publishes to exchange '' with routing key = the request's reply_to (`ResultOrigin.replyTo`), correlation_id = task id, delivery_mode 1 (2 with `persistent`), JSON; no reply_to → nothing sent, as Celery |
 * | payload        | Celery 5.2's `task_id, status, result, traceback, children`, then the rest of the meta (date_done …, as Celery ≥ 5.7 sends) |
 * | client side    | one consumer on the reply queue (started by the first waitFor); results for other ids are buffered (latest state per id, up to `bufferLimit` ids) |
 * | get()          | drains what is ready in the reply queue with basic.get (as Celery's get_task_meta), then answers from the buffer |
 * | not supported  | groups (saveGroup/getGroup) and chords, as in Celery; results of other clients |
 *
 * Options: `brokerUrl` (required, amqp:// or amqps://), `oid` (reply queue name; default derived from
 * host and pid), `resultExpires` (s, default 86400), `persistent` (default false), `bufferLimit`
 * (default 10000), plus the AMQP connection options of drivers/amqp/options.ts.
 *
 * Why the reply queue is not auto-delete (Celery's is): an auto-delete queue vanishes when our consumer's
 * connection drops, and every result sent before we reconnect and re-declare would be dropped by
 * RabbitMQ; and it is never deleted at all when nobody consumed from it (a client that sent tasks and
 * exited). Instead close() deletes it (the oid is unique to this app instance, nobody else can read it),
 * and `x-expires` removes the queue of a process that died before closing.
 */
import { hostname } from 'node:os';
import { threadId } from 'node:worker_threads';
import type { Channel, ConfirmChannel, ConsumeMessage, GetMessage } from 'amqplib';
import { AmqpLink, ChannelSlot } from '../../drivers/amqp/link.js';
import { type AmqpOptions, resolveAmqpOptions } from '../../drivers/amqp/options.js';
import { toFieldTable } from '../../drivers/amqp/table.js';
import { parseUrl } from '../../drivers/url.js';
import { ConfigError } from '../../errors.js';
import { decodeJson, encodeJson } from '../../protocol/json.js';
import { uuid3Oid } from '../../protocol/oid.js';
import type { ResultMeta } from '../../protocol/result.js';
import type { BackendCapabilities, ResultBackend, ResultOrigin, StoreOptions } from '../backend.js';
import { ResultWaiters, type WaitOptions } from '../waiters.js';

const RPC_KEYS = ['brokerUrl', 'oid', 'resultExpires', 'persistent', 'bufferLimit'];
/** Most messages one get() reads off the reply queue (Celery's backlog_limit). */
const DRAIN_LIMIT = 1000;
/** Times a result whose confirm was lost with its channel is sent again. */
const PUBLISH_ATTEMPTS = 5;
/** Unacked result messages the reply consumer may hold. */
const REPLY_PREFETCH = 1000;

export const rpcDefaults = {
  /** Seconds an unused reply queue lives (`x-expires`); null: forever. @defaultValue 86400 */
  resultExpires: 86_400 as number | null,
  /** Send results persistent (delivery_mode 2), Celery's result_persistent. @defaultValue false */
  persistent: false,
  /** Task ids whose latest state is buffered on the client; the oldest are dropped beyond it. @defaultValue 10000 */
  bufferLimit: 10_000,
};

export class RpcBackend implements ResultBackend {
  readonly transport = 'rpc';
  readonly capabilities: BackendCapabilities = { groups: false, expiry: false, chords: false };
  /** The reply queue: the app must send `reply_to = oid` on the tasks whose results it waits for. */
  readonly oid: string;
  readonly #link: AmqpLink;
  readonly #expires: number | null;
  readonly #persistent: boolean;
  readonly #bufferLimit: number;
  readonly #results = new Map<string, ResultMeta>();
  /**
   * Waits start the reply consumer (it runs from then on) and are answered from the buffer or by the
   * consumer's next message; a consumer that cannot start fails the waits with its error.
   */
  readonly #waiters = new ResultWaiters({
    watch: () => this.#consume(),
    read: (ids) => ids.flatMap((id) => this.#results.get(id) ?? []),
  });
  #declared: Promise<void> | null = null;
  readonly #publisher: ChannelSlot<ConfirmChannel>;
  #consuming: Promise<void> | null = null;

  constructor(url: URL, options: Record<string, unknown> = {}) {
    const brokerUrl = options.brokerUrl;
    if (typeof brokerUrl !== 'string' || !/^amqps?:/.test(brokerUrl)) {
      throw new ConfigError(
        `${url.protocol}// results travel over the AMQP broker: it needs options.brokerUrl = an amqp:// URL (got ${JSON.stringify(brokerUrl ?? null)})`,
      );
    }
    const amqpUrl = parseUrl(brokerUrl, 'broker');
    const amqpOptions: AmqpOptions = resolveAmqpOptions(amqpUrl, options, RPC_KEYS);
    this.oid =
      typeof options.oid === 'string' && options.oid
        ? options.oid
        : uuid3Oid(`${hostname()}-${process.pid}-${threadId}-rpc`);
    const expires = options.resultExpires === undefined ? rpcDefaults.resultExpires : options.resultExpires;
    this.#expires = typeof expires === 'number' && expires > 0 ? expires : null;
    this.#persistent = options.persistent === true;
    this.#bufferLimit =
      typeof options.bufferLimit === 'number' ? options.bufferLimit : rpcDefaults.bufferLimit;
    this.#link = new AmqpLink(amqpUrl, amqpOptions);
    this.#publisher = new ChannelSlot(() => this.#link.confirmChannel());
    this.#link.onUp(() => {
      this.#declared = null;
      this.#publisher.reset();
      // The consumer died with the old connection; start it again if anyone was waiting.
      const wasConsuming = this.#consuming !== null;
      this.#consuming = null;
      if (wasConsuming) void this.#consume().catch((err) => this.#link.onError(err as Error));
    });
  }

  /** The AMQP connection (tests, tooling). */
  get link(): AmqpLink {
    return this.#link;
  }

  set onError(fn: (err: Error) => void) {
    this.#link.onError = fn;
  }

  /** Connect and declare the reply queue, so results sent from now on are kept for us. */
  async connect(): Promise<void> {
    await this.#link.connect();
    await this.#declare();
  }

  #declare(): Promise<void> {
    this.#declared ??= this.#link
      .admin(async (ch) => {
        await ch.assertQueue(this.oid, {
          durable: false,
          autoDelete: false,
          exclusive: false,
          arguments: toFieldTable(this.#expires ? { 'x-expires': this.#expires * 1000 } : {}),
        });
      })
      .catch((err) => {
        this.#declared = null;
        throw err;
      });
    return this.#declared;
  }

  async store(meta: ResultMeta, _options: StoreOptions, origin?: ResultOrigin | null): Promise<void> {
    // Like Celery: a request without reply_to has nobody to send its result to.
    const replyTo = origin?.replyTo;
    if (!replyTo) return;
    const { task_id, status, result, traceback, children, ...rest } = meta;
    const body = Buffer.from(encodeJson({ task_id, status, result, traceback, children, ...rest }), 'utf8');
    const props = {
      correlationId: origin.correlationId ?? task_id,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: this.#persistent ? 2 : 1,
    };
    // A confirm lost with its channel or connection is sent again once reconnected (at least once).
    for (let attempt = 1; ; attempt++) {
      const ch = await this.#publisher.get();
      try {
        await new Promise<void>((resolve, reject) => {
          try {
            ch.publish('', replyTo, body, props, (err) => (err ? reject(err) : resolve()));
          } catch (err) {
            reject(err);
          }
        });
        return;
      } catch (err) {
        if ((err as Error).message === 'message nacked' || attempt >= PUBLISH_ATTEMPTS) throw err;
      }
    }
  }

  /** Record a result message: the latest state per task id, oldest ids dropped beyond the limit. */
  #take(m: ConsumeMessage | GetMessage): void {
    let payload: Record<string, unknown>;
    try {
      payload = decodeJson(m.content.toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      this.#link.onError(err as Error);
      return;
    }
    if (!payload || typeof payload !== 'object' || typeof payload.status !== 'string') return;
    const id = (m.properties.correlationId as string | undefined) ?? String(payload.task_id);
    const { task_id: _id, status, result, traceback, children, date_done, ...rest } = payload;
    const meta = {
      status,
      result: result ?? null,
      traceback: (traceback as string | null | undefined) ?? null,
      children: Array.isArray(children) ? children : [],
      date_done: (date_done as string | null | undefined) ?? null,
      ...rest,
      task_id: id,
    } as ResultMeta;
    this.#results.delete(id);
    this.#results.set(id, meta);
    if (this.#results.size > this.#bufferLimit) {
      const oldest = this.#results.keys().next().value;
      if (oldest !== undefined) this.#results.delete(oldest);
    }
    this.#waiters.notify(meta);
  }

  #consume(): Promise<void> {
    this.#consuming ??= (async () => {
      await this.#declare();
      const ch: Channel = await this.#link.channel();
      await ch.prefetch(REPLY_PREFETCH, false);
      await ch.consume(
        this.oid,
        (m) => {
          if (!m) {
            // Our reply queue was deleted (or expired): declare it again and consume again.
            this.#consuming = null;
            this.#declared = null;
            void ch.close().catch(() => {});
            void this.#consume().catch((err) => this.#link.onError(err as Error));
            return;
          }
          this.#take(m);
          ch.ack(m);
        },
        { noAck: false },
      );
    })();
    const started = this.#consuming;
    started.catch(() => {
      if (this.#consuming === started) this.#consuming = null;
    });
    return started;
  }

  /** Read what is ready in the reply queue (not yet pushed to our consumer) into the buffer. */
  async #drain(): Promise<void> {
    await this.#declare();
    await this.#link.admin(async (ch) => {
      for (let i = 0; i < DRAIN_LIMIT; i++) {
        const m = await ch.get(this.oid, { noAck: true });
        if (!m) break;
        this.#take(m);
      }
    });
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    await this.#drain();
    return this.#results.get(taskId) ?? null;
  }

  waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta | null> {
    return this.#waiters.wait(taskId, options);
  }

  /** Drop the buffered state of a task, after reading what already arrived for it. */
  async forget(taskId: string): Promise<void> {
    await this.#drain();
    this.#results.delete(taskId);
  }

  async saveGroup(_groupId: string, _taskIds: readonly string[], _options: StoreOptions): Promise<void> {
    throw new ConfigError(
      "The rpc:// result backend cannot save groups (neither can Celery's); use a redis:// or sqlite:// result backend for GroupResult.save()",
    );
  }

  async getGroup(_groupId: string): Promise<string[] | null> {
    throw new ConfigError("The rpc:// result backend cannot restore groups (neither can Celery's)");
  }

  /**
   * Close, deleting our reply queue: its name is this app instance's own (the oid carries a random part),
   * so nobody can read what would arrive there later, and a short-lived client (every `celeriac call`)
   * would otherwise leave one queue behind per run until `x-expires`. A process killed before it closes
   * leaves its queue to `x-expires` (resultExpires).
   */
  async close(): Promise<void> {
    await this.#waiters.close();
    if (this.#declared && this.#link.isUp) {
      const remove = this.#declared
        .then(() => this.#link.admin((ch) => ch.deleteQueue(this.oid)))
        .then(() => {})
        .catch((err: unknown) => this.#link.onError(err as Error));
      // Bounded: a broker that stopped answering must not hold up the close.
      await Promise.race([remove, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
    await this.#link.close();
  }
}

export function createRpcBackend(url: URL, options: Record<string, unknown>): RpcBackend {
  return new RpcBackend(url, options);
}
