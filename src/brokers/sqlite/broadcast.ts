/**
 * Broadcast on SQLite (../broadcast.ts): events and remote control between the processes sharing one
 * file, in the v4 tables (drivers/sqlite/schema.ts). Nothing here is read by Python Celery (it has no
 * SQLite transport); the layout only has to give kombu's semantics.
 *
 *   publish      INSERT a `broadcasts` row (exchange, routing key, message JSON, expires_at = now + 10 s);
 *                publishes of one tick share a transaction. Rows past their expiry are deleted.
 *   subscribe    remembers the largest broadcast id at that moment and hands over every later row of its
 *                exchange whose routing key its binding matches (bindingMatches: fanout '' takes all).
 *   replyQueue   a `reply_bindings` row (exchange, routing key → queue) whose expiry the holder pushes
 *                forward every few seconds, so a crashed client's binding lapses (AMQP's x-expires);
 *                close deletes it and the queue's unread replies.
 *   reply        copies the message into `replies` once per live binding of (exchange, routing key);
 *                nobody bound: dropped, as kombu drops it. The reader deletes the rows it reads.
 *
 * One reader loop per store serves all its subscriptions and reply queues. It never busy-polls: it waits
 * with SqliteFile.waitForChange (this process's commits wake it at once, other processes' through the
 * -wal watch and data_version), and only takes the write lock when a read found replies or expired rows.
 */
import type { Statement } from 'better-sqlite3';
import { TickBatcher } from '../../drivers/sqlite/batch.js';
import type { SqliteFile } from '../../drivers/sqlite/file.js';
import { BrokerError, ProtocolError } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import {
  type Broadcast,
  type BroadcastHandler,
  type BroadcastMessage,
  bindingMatches,
  type Exchange,
  type SubscribeOptions,
  type Subscription,
} from '../broadcast.js';

/** How long a published row stays readable: a subscriber stalled for longer misses it. */
export const BROADCAST_LIFETIME_MS = 10_000;
/** Celery's control_queue_ttl and control_queue_expires: unread replies, and an unrefreshed binding. */
const REPLY_TTL_MS = 300_000;
const REPLY_EXPIRES_MS = 10_000;
/** Longest wait between two looks (reply bindings are refreshed, expired rows pruned, at this pace). */
const IDLE_WAIT_MS = 1000;
const PRUNE_EVERY_MS = 1000;
const READ_BATCH = 500;
const RETRY_MS = 1000;

interface Row {
  id: number;
  exchange: string;
  routing_key: string;
  message: string;
}
interface Sub {
  exchange: Exchange;
  binding: string;
  handler: BroadcastHandler;
  report: (err: Error) => void;
  /** Rows up to this id were committed before the subscription: not ours. */
  since: number;
}
interface ReplyQueue {
  exchange: string;
  routingKey: string;
  queue: string;
  handler: BroadcastHandler;
  report: (err: Error) => void;
  expiresMs: number;
  refreshedAt: number;
}
type Published = { exchange: string; routingKey: string; message: string };

function encode(m: WireMessage): string {
  return JSON.stringify({
    body: m.body.toString('base64'),
    content_type: m.contentType,
    content_encoding: m.contentEncoding,
    headers: m.headers,
    properties: m.properties,
  });
}

function decode(text: string): WireMessage {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ProtocolError(`undecodable broadcast row: ${(err as Error).message}`, { cause: err });
  }
  if (typeof o !== 'object' || o === null || typeof o.body !== 'string') {
    throw new ProtocolError('undecodable broadcast row: no body');
  }
  return {
    body: Buffer.from(o.body, 'base64'),
    contentType: String(o.content_type ?? 'application/json'),
    contentEncoding: String(o.content_encoding ?? 'utf-8'),
    headers: (o.headers ?? {}) as Record<string, unknown>,
    properties: (o.properties ?? {}) as WireMessage['properties'],
  };
}

function prepare(file: SqliteFile) {
  const db = file.db;
  return {
    publish: db.prepare(
      'INSERT INTO broadcasts (exchange, routing_key, message, expires_at) VALUES (?, ?, ?, ?)',
    ),
    lastId: db.prepare("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'broadcasts'").pluck(),
    read: db.prepare(
      'SELECT id, exchange, routing_key, message FROM broadcasts WHERE id > ? ORDER BY id LIMIT ?',
    ),
    bind: db.prepare(
      'INSERT INTO reply_bindings (exchange, routing_key, queue, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (exchange, routing_key, queue) DO UPDATE SET expires_at = excluded.expires_at',
    ),
    unbind: db.prepare('DELETE FROM reply_bindings WHERE queue = ?'),
    dropReplies: db.prepare('DELETE FROM replies WHERE queue = ?'),
    reply: db.prepare(
      'INSERT INTO replies (queue, message, expires_at) SELECT queue, ?, ? FROM reply_bindings WHERE exchange = ? AND routing_key = ? AND expires_at >= ?',
    ),
    hasReply: db.prepare('SELECT 1 FROM replies WHERE queue = ? LIMIT 1').pluck(),
    takeReplies: db.prepare('DELETE FROM replies WHERE queue = ? RETURNING id, message') as Statement<
      [string],
      { id: number; message: string }
    >,
    expired: db
      .prepare(
        'SELECT 1 WHERE EXISTS (SELECT 1 FROM broadcasts WHERE expires_at < :now) OR EXISTS (SELECT 1 FROM reply_bindings WHERE expires_at < :now) OR EXISTS (SELECT 1 FROM replies WHERE expires_at < :now)',
      )
      .pluck(),
    pruneBroadcasts: db.prepare('DELETE FROM broadcasts WHERE expires_at < ?'),
    pruneBindings: db.prepare('DELETE FROM reply_bindings WHERE expires_at < ?'),
    // Expired, or left behind by a binding that lapsed (its client is gone).
    pruneReplies: db.prepare(
      'DELETE FROM replies WHERE expires_at < ? OR queue NOT IN (SELECT queue FROM reply_bindings)',
    ),
  };
}
type Statements = ReturnType<typeof prepare>;

export class SqliteBroadcast implements Broadcast {
  readonly #fileOf: () => SqliteFile;
  readonly #onError: (err: Error) => void;
  readonly #statements = new WeakMap<SqliteFile, Statements>();
  readonly #subs = new Set<Sub>();
  readonly #replyQueues = new Set<ReplyQueue>();
  readonly #puts = new TickBatcher<Published>((items) => this.#insert(items));
  #cursor = 0;
  #loop: Promise<void> | null = null;
  #abort = new AbortController();
  #lastPrune = 0;
  #lastPublishPrune = 0;

  /** `fileOf`: the store's open file (throws when the store is not connected). */
  constructor(fileOf: () => SqliteFile, onError: (err: Error) => void) {
    this.#fileOf = fileOf;
    this.#onError = onError;
  }

  #open(): { file: SqliteFile; st: Statements } {
    const file = this.#fileOf();
    let st = this.#statements.get(file);
    if (!st) {
      st = prepare(file);
      this.#statements.set(file, st);
    }
    return { file, st };
  }

  async publish(exchange: Exchange, routingKey: string, message: WireMessage): Promise<void> {
    this.#open();
    await this.#puts.add([{ exchange: exchange.name, routingKey, message: encode(message) }]);
  }

  async #insert(items: Published[]): Promise<void> {
    const { file, st } = this.#open();
    const now = Date.now();
    // The publisher prunes too: with nobody subscribed anywhere, nobody else would.
    const prune = now - this.#lastPublishPrune >= PRUNE_EVERY_MS;
    if (prune) this.#lastPublishPrune = now;
    await file.write(() =>
      file.db
        .transaction(() => {
          if (prune) st.pruneBroadcasts.run(now);
          for (const i of items)
            st.publish.run(i.exchange, i.routingKey, i.message, now + BROADCAST_LIFETIME_MS);
        })
        .immediate(),
    );
    file.notifyLocal();
  }

  async subscribe(
    exchange: Exchange,
    bindingKey: string,
    handler: BroadcastHandler,
    options: SubscribeOptions,
  ): Promise<Subscription> {
    const { file, st } = this.#open();
    const since = file.run(() => st.lastId.get() as number);
    const sub: Sub = {
      exchange,
      binding: bindingKey,
      handler,
      report: options.onError ?? this.#onError,
      since,
    };
    if (!this.#subs.size) this.#cursor = since;
    this.#subs.add(sub);
    this.#start();
    return {
      close: async () => {
        this.#subs.delete(sub);
      },
    };
  }

  async reply(exchange: string, routingKey: string, message: WireMessage): Promise<void> {
    const { file, st } = this.#open();
    const now = Date.now();
    const n = await file.write(
      () => st.reply.run(encode(message), now + REPLY_TTL_MS, exchange, routingKey, now).changes,
    );
    if (n) file.notifyLocal();
  }

  async replyQueue(
    exchange: string,
    routingKey: string,
    queue: string,
    handler: BroadcastHandler,
    options: { expiresMs?: number; onError?: (err: Error) => void } = {},
  ): Promise<Subscription> {
    const { file, st } = this.#open();
    const expiresMs = options.expiresMs ?? REPLY_EXPIRES_MS;
    const now = Date.now();
    await file.write(() => st.bind.run(exchange, routingKey, queue, now + expiresMs));
    const rq: ReplyQueue = {
      exchange,
      routingKey,
      queue,
      handler,
      report: options.onError ?? this.#onError,
      expiresMs,
      refreshedAt: now,
    };
    this.#replyQueues.add(rq);
    this.#start();
    return { close: () => this.#closeReplyQueue(rq) };
  }

  async #closeReplyQueue(rq: ReplyQueue): Promise<void> {
    if (!this.#replyQueues.delete(rq)) return;
    const { file, st } = this.#open();
    await file.write(() =>
      file.db
        .transaction(() => {
          st.unbind.run(rq.queue);
          st.dropReplies.run(rq.queue);
        })
        .immediate(),
    );
  }

  #start(): void {
    if (this.#loop) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      // Subscribed again while the loop was on its way out.
      if (!this.#abort.signal.aborted && (this.#subs.size || this.#replyQueues.size)) this.#start();
    });
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted && (this.#subs.size || this.#replyQueues.size)) {
      let file: SqliteFile;
      try {
        file = this.#open().file;
      } catch {
        return; // the store closed under us
      }
      const since = file.dataVersion();
      const local = file.localCommits;
      let more = false;
      try {
        more = await this.#look();
      } catch (err) {
        this.#onError(
          new BrokerError(`SQLite broadcast read failed: ${(err as Error).message}; retrying`, {
            retryable: true,
            cause: err,
          }),
        );
        await new Promise((r) => setTimeout(r, RETRY_MS));
        continue;
      }
      // A commit of this process while we looked (our awaits let it in) would not change data_version.
      if (!more && file.localCommits === local) await file.waitForChange(IDLE_WAIT_MS, since, signal);
    }
  }

  /** One look at the tables; true when a full batch was read (more may be waiting). */
  async #look(): Promise<boolean> {
    const { file, st } = this.#open();
    let full = false;
    if (this.#subs.size) {
      const rows = file.run(() => st.read.all(this.#cursor, READ_BATCH) as Row[]);
      full = rows.length === READ_BATCH;
      for (const row of rows) {
        this.#cursor = row.id;
        this.#dispatch(row);
      }
    }
    const now = Date.now();
    for (const rq of [...this.#replyQueues]) {
      if (now - rq.refreshedAt >= rq.expiresMs / 3) {
        rq.refreshedAt = now;
        await file.write(() => st.bind.run(rq.exchange, rq.routingKey, rq.queue, now + rq.expiresMs));
      }
      if (!file.run(() => st.hasReply.get(rq.queue))) continue;
      const got = await file.write(() => st.takeReplies.all(rq.queue));
      got.sort((a, b) => a.id - b.id);
      for (const r of got) {
        if (!this.#replyQueues.has(rq)) break;
        let message: WireMessage;
        try {
          message = decode(r.message);
        } catch (err) {
          rq.report(err as Error);
          continue;
        }
        deliver(rq.handler, { exchange: rq.exchange, routingKey: rq.routingKey, message }, rq.report);
      }
    }
    if (now - this.#lastPrune >= PRUNE_EVERY_MS) {
      this.#lastPrune = now;
      if (file.run(() => st.expired.get({ now }))) {
        await file.write(() =>
          file.db
            .transaction(() => {
              st.pruneBroadcasts.run(now);
              st.pruneBindings.run(now);
              st.pruneReplies.run(now);
            })
            .immediate(),
        );
      }
    }
    return full;
  }

  #dispatch(row: Row): void {
    let message: WireMessage | null = null;
    let failure: Error | null = null;
    for (const sub of [...this.#subs]) {
      if (row.id <= sub.since || sub.exchange.name !== row.exchange) continue;
      if (!bindingMatches(sub.exchange.type, sub.binding, row.routing_key)) continue;
      if (!message && !failure) {
        try {
          message = decode(row.message);
        } catch (err) {
          failure = err as Error;
        }
      }
      if (failure || !message) {
        sub.report(failure ?? new ProtocolError('undecodable broadcast row'));
        continue;
      }
      deliver(sub.handler, { exchange: row.exchange, routingKey: row.routing_key, message }, sub.report);
    }
  }

  /** Stop the reader and close every reply queue (the store is closing). */
  async close(): Promise<void> {
    await this.#puts.drain();
    this.#abort.abort();
    await this.#loop;
    this.#abort = new AbortController();
    this.#subs.clear();
    await Promise.all([...this.#replyQueues].map((rq) => this.#closeReplyQueue(rq).catch(() => {})));
  }
}

/** A handler that throws is reported; the others, and its own later messages, still arrive. */
function deliver(handler: BroadcastHandler, m: BroadcastMessage, report: (err: Error) => void): void {
  try {
    handler(m);
  } catch (err) {
    report(
      new BrokerError(`a broadcast handler on ${m.exchange} threw: ${(err as Error)?.message}`, {
        retryable: false,
        cause: err,
      }),
    );
  }
}
