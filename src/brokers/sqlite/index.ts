/**
 * sqlite:// — the embedded default broker: durable queues in one local file that every process on the
 * machine shares (workers, producers, the CLI), with no server to install. The result backend
 * (backends/sqlite) lives in the same file, through the same connection.
 *
 * | feature            | support |
 * |--------------------|---------|
 * | priorities         | 0–9, 0 served first (as kombu on Redis); FIFO within a priority |
 * | several queues     | merged by priority, then publish order (no round robin) |
 * | reject(requeue)    | back to the FRONT of its priority level, `redelivered` set, so it runs next |
 * | reject(false)      | deleted (no dead-letter queue) |
 * | bad rows           | headers/properties that are not JSON objects are delivered as `undecodable` (./rows.ts), so the worker dead-letters them |
 * | delivery tags      | the row id (AUTOINCREMENT, never reused): two messages can never share a tag |
 * | unacked restore    | `close()` requeues what this connection holds; a crashed process's messages come back once its heartbeat is `visibility_timeout` old (below) |
 * | waiting            | no busy polling: same-process wake-up on commit, a watch on the -wal file for other processes, and a fallback `data_version` poll (1 ms doubling to `polling_interval`) |
 * | URL                | `sqlite://./celeriac.db`, `sqlite://name.db` (relative to the working directory), `sqlite:///abs/path.db`, `sqlite://~/x.db` |
 * | URL options        | `?visibility_timeout=600&busy_timeout=5000&polling_interval=0.05&synchronous=normal` (see drivers/sqlite/options.ts) |
 * | broadcast          | `broadcasts` rows (10 s lifetime) read by every subscriber present at commit, each from the last id it saw; replies in `replies` for the queues of `reply_bindings`, deleted when read or closed; same wake-ups as consuming (./broadcast.ts) |
 * | file               | WAL mode, schema versioned by migrations (drivers/sqlite/schema.ts); local disks only (WAL needs shared memory, so no NFS/SMB) |
 * | writes             | publishes of one tick go in one transaction (500 rows at most per transaction); take is batched by the consume loop; acks and requeues of one turn share one transaction with that turn's result writes; a busy write lock is waited for without blocking the event loop (SqliteFile.write) |
 *
 * Visibility timeout, and why a live worker never loses a message: every connection that holds messages
 * writes a heartbeat to `owners` every `min(visibility_timeout / 4, 30 s)`; a message is restored only
 * when its owner's heartbeat is older than the timeout. So an ETA message held for hours by a live worker
 * stays with it (unlike kombu on Redis, where the fetch time counts), while a SIGKILLed worker's messages
 * come back after the timeout. Any consumer runs the restore scan, at most every
 * `min(visibility_timeout / 4, 5 s)`, from take(); a consumer that was itself frozen (suspended laptop,
 * stalled event loop) skips it until the others had time to beat again.
 */
import { randomBytes } from 'node:crypto';
import { TickBatcher, TurnBatch } from '../../drivers/sqlite/batch.js';
import { acquireFile, type SqliteFile } from '../../drivers/sqlite/file.js';
import { parseSqliteUrl, type SqliteTarget } from '../../drivers/sqlite/options.js';
import { BrokerError } from '../../errors.js';
import { createLogger, type Logger } from '../../util/log.js';
import type { BrokerCapabilities, QueueSnapshot } from '../broker.js';
import { type Taken, taken, VirtualBroker, type VirtualStore } from '../virtual.js';
import { SqliteBroadcast } from './broadcast.js';
import { browseSqlite, rowMessage } from './rows.js';
import { HOST, type Item, prepare, type Statements, type Transactions, transactions } from './statements.js';

/** Rows per write transaction: short enough that other processes never wait long for the lock. */
const WRITE_CHUNK = 500;
const HEARTBEAT_MAX_MS = 30_000;
const RESTORE_EVERY_MAX_MS = 5_000;

interface Settles {
  remove: TurnBatch<number, number>;
  requeue: TurnBatch<number, number>;
}

export class SqliteStore implements VirtualStore {
  readonly transport = 'sqlite';
  readonly capabilities: BrokerCapabilities = {
    priority: 'low-first',
    redeliversUnacked: true,
    requeueToFront: true,
    broadcast: true,
  };
  /** Events and remote control between the processes of this file (./broadcast.ts). */
  readonly broadcast: SqliteBroadcast;
  /** Called with errors of background work (the broadcast reader); the logger by default. */
  onError: (err: Error) => void = (err) => this.#logger.log('error', `SQLite broker: ${err.message}`);
  /** stderr until the worker sets its own (setLogger). */
  #logger: Logger = createLogger('warn');

  setLogger(logger: Logger): void {
    this.#logger = logger;
  }
  readonly #target: SqliteTarget;
  readonly #owner = `${HOST}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly #heartbeatMs: number;
  readonly #restoreEveryMs: number;
  readonly #visibilityMs: number;
  readonly #held = new Set<number>();
  readonly #puts = new TickBatcher<Item>((items) => this.#insert(items));
  #file: SqliteFile | null = null;
  #st: Statements | null = null;
  #tx: Transactions | null = null;
  #settles: Settles | null = null;
  #abort = new AbortController();
  #heartbeat: NodeJS.Timeout | null = null;
  #lastTick = 0;
  #resumedAt = 0;
  #lastRestore = 0;
  #scans = 0;
  #restored = 0;

  readonly #ownConnection: boolean;

  /** `ownConnection`: do not share this process's connection to the file (tests: act as another process). */
  constructor(target: SqliteTarget, { ownConnection = false } = {}) {
    this.#target = target;
    this.#ownConnection = ownConnection;
    this.#visibilityMs = target.options.visibilityTimeout * 1000;
    this.#heartbeatMs = Math.min(this.#visibilityMs / 4, HEARTBEAT_MAX_MS);
    this.#restoreEveryMs = Math.min(this.#visibilityMs / 4, RESTORE_EVERY_MAX_MS);
    this.broadcast = new SqliteBroadcast(
      () => this.#open().file,
      (err) => this.onError(err),
    );
  }

  /** The database file (absolute path). */
  get path(): string {
    return this.#target.path;
  }

  async connect(): Promise<void> {
    if (this.#file) return;
    const file = await acquireFile(this.#target.path, this.#target.options, this.#ownConnection);
    try {
      this.#st = prepare(file);
    } catch (err) {
      file.release();
      throw err;
    }
    this.#file = file;
    this.#tx = transactions(file, this.#st, this.#owner);
    this.#settles = this.#settleBatches(file, this.#st);
    this.#lastTick = Date.now();
    this.#heartbeat = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#heartbeat.unref();
  }

  #open(): { file: SqliteFile; st: Statements; tx: Transactions } {
    if (!this.#file || !this.#st || !this.#tx) {
      throw new BrokerError(`SQLite broker on "${this.path}" is not connected`, { retryable: false });
    }
    return { file: this.#file, st: this.#st, tx: this.#tx };
  }

  /** Resolves once the items are committed; on failure some earlier chunks may be in (at-least-once). */
  put(items: ReadonlyArray<Item>): Promise<void> {
    this.#open();
    return this.#puts.add(items);
  }

  async #insert(items: Item[]): Promise<void> {
    const { file, tx } = this.#open();
    for (let i = 0; i < items.length; i += WRITE_CHUNK) {
      if (i > 0) await new Promise((r) => setImmediate(r)); // let the others in between chunks
      const chunk = items.slice(i, i + WRITE_CHUNK);
      await file.write(() => tx.insert.immediate(chunk, Date.now()));
      file.notifyLocal();
    }
  }

  async take(queues: readonly string[], max: number, waitMs: number): Promise<Taken[]> {
    const { file } = this.#open();
    const signal = this.#abort.signal;
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (signal.aborted || this.#file !== file) return [];
      // Read the change counter before looking, so a commit made after the look wakes the wait below.
      const since = file.dataVersion();
      await this.#maybeRestore();
      const taken = await this.#takeNow(queues, max);
      const left = deadline - Date.now();
      if (taken.length || left <= 0 || signal.aborted) return taken;
      await file.waitForChange(left, since, signal);
    }
  }

  async #takeNow(queues: readonly string[], max: number): Promise<Taken[]> {
    const { file, st, tx } = this.#open();
    if (max <= 0) return [];
    // A plain read first: an idle consumer never takes the write lock.
    if (!file.run(() => queues.some((q) => st.hasReady.get(q)))) return [];
    const rows = await file.write(() => tx.take.immediate(queues, max, Date.now()));
    return rows.map((row) => {
      this.#held.add(row.id);
      const { message, undecodable } = rowMessage(row);
      return taken(String(row.id), row.queue, message, row.redelivered === 1, undecodable);
    });
  }

  /** Broker.browse: ready rows of a queue in the order they would be taken (./rows.ts). */
  async browse(queue: string, limit: number): Promise<QueueSnapshot> {
    const { file } = this.#open();
    return file.run(() => browseSqlite(file.db, (fn) => file.write(fn), queue, limit));
  }

  /** VirtualStore.settleOne: into this turn's settling transaction (see #settles). */
  settleOne(kind: 'ack' | 'requeue' | 'discard', tag: string): Promise<void> {
    const batches = this.#batches();
    // Rejected without requeue (discard): there is no dead-letter queue in this store, so it is deleted.
    return (kind === 'requeue' ? batches.requeue : batches.remove).add(Number(tag));
  }

  ack(tags: readonly string[]): Promise<void> {
    return this.#settle('remove', tags);
  }

  requeue(tags: readonly string[]): Promise<void> {
    // Back to the front of its priority level with redelivered set: the consumer gave it back (cancel,
    // reject(requeue), shutdown), so it runs next, here or in another process.
    return this.#settle('requeue', tags);
  }

  discard(tags: readonly string[]): Promise<void> {
    return this.#settle('remove', tags);
  }

  async #settle(kind: 'remove' | 'requeue', tags: readonly string[]): Promise<void> {
    const batch = this.#batches()[kind];
    const works = new Set<Promise<void>>();
    for (const tag of tags) works.add(batch.add(Number(tag)));
    await Promise.all(works);
  }

  #batches(): Settles {
    if (!this.#settles) {
      throw new BrokerError(`SQLite broker on "${this.path}" is not connected`, { retryable: false });
    }
    return this.#settles;
  }

  /**
   * Acks (remove) and requeues of a turn: each kind one work of the file's settling transaction of that
   * turn, together with the result writes of the same turn (SqliteFile.inTurn): one write lock and one
   * commit for all of them. A message leaves `#held` only once its row is written.
   */
  #settleBatches(file: SqliteFile, st: Statements): Settles {
    const owner = this.#owner;
    const batch = (kind: 'remove' | 'requeue') =>
      new TurnBatch<number, number>(
        file,
        (ids) => {
          let n = 0;
          for (const id of ids) n += st[kind].run(id, owner).changes;
          return n;
        },
        (n, ids) => {
          for (const id of ids) this.#held.delete(id);
          if (kind === 'requeue' && n > 0) file.notifyLocal();
        },
        WRITE_CHUNK,
      );
    return { remove: batch('remove'), requeue: batch('requeue') };
  }

  async purge(queue: string): Promise<number> {
    const { file, st } = this.#open();
    return file.write(() => st.purge.run(queue).changes);
  }

  async size(queue: string): Promise<number> {
    const { file, st } = this.#open();
    return file.run(() => st.size.get(queue) as number);
  }

  interrupt(): void {
    this.#abort.abort();
    this.#abort = new AbortController();
  }

  /** Counters for inspection and tests: messages held unacked here, restore scans run, messages restored. */
  stats(): { held: number; restoreScans: number; restored: number } {
    return { held: this.#held.size, restoreScans: this.#scans, restored: this.#restored };
  }

  #beat(): void {
    const now = Date.now();
    // A tick much later than planned means this process was frozen or its event loop stalled.
    if (now - this.#lastTick > 2 * this.#heartbeatMs) this.#resumedAt = now;
    this.#lastTick = now;
    const [file, st] = [this.#file, this.#st];
    if (!this.#held.size || !file || !st) return;
    file
      .write(() => st.beat.run(this.#owner, HOST, process.pid, now))
      .catch(() => {
        // Busy or failing file: the next beat retries; a whole visibility timeout of failures is needed
        // before anyone restores these messages.
      });
  }

  /** Return the messages of owners silent for the visibility timeout to their queues. */
  async #maybeRestore(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastRestore < this.#restoreEveryMs) return;
    this.#lastRestore = now;
    // If this process was frozen or stalled, the others' heartbeats look old for the same reason: wait
    // until they had two beats' time to catch up before judging them.
    const grace = 2 * this.#heartbeatMs;
    if (now - this.#lastTick > grace || now - this.#resumedAt < grace) return;
    const { file, st, tx } = this.#open();
    const cutoff = now - this.#visibilityMs;
    this.#scans++;
    const stale = file.run(() => st.staleOwner.get(cutoff, this.#owner) || st.orphan.get(cutoff));
    if (!stale) return;
    const n = await file.write(() => tx.restore.immediate(cutoff));
    this.#restored += n;
    if (n > 0) file.notifyLocal();
  }

  async close(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    this.interrupt();
    await this.#puts.drain();
    await this.broadcast.close().catch((err) => this.onError(err as Error));
    try {
      // Like a closed AMQP channel: whatever this connection still holds goes back to its queue.
      await this.requeue([...this.#held].map(String));
      const st = this.#st;
      if (st) await file.write(() => st.dropOwner.run(this.#owner));
    } finally {
      this.#file = null;
      this.#st = null;
      this.#tx = null;
      this.#settles = null;
      file.release();
    }
  }
}

export function createSqliteBroker(url: URL, options: Record<string, unknown> = {}): VirtualBroker {
  return new VirtualBroker(new SqliteStore(parseSqliteUrl(url, options)));
}
