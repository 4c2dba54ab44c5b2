/**
 * sqlite:// result backend: Celery's result metas (JSON) in the same file and through the same
 * connection as the SQLite broker, so `resultBackend: null` with a sqlite:// broker needs nothing else.
 *
 * | feature        | support |
 * |----------------|---------|
 * | URL            | as the broker (brokers/sqlite/options.ts); broker-only options such as visibility_timeout are accepted and ignored |
 * | writes         | the `store()` calls of one event-loop tick go in one transaction; a SUCCESS is never overwritten (as Celery's key-value backends: a redelivered duplicate must not clobber it) |
 * | waiting        | waiters of this process are woken by an event when this process stores; for other processes one loop per backend re-reads every awaited id in one query, only after the file changed (-wal watch, data_version poll), at most every 5 ms, and at least every `intervalMs` (500 ms) |
 * | expiry         | `expires_at` per result and group; expired rows read as missing and are deleted on read and by a sweep at most once a minute from `store()` |
 */
import type { Transaction } from 'better-sqlite3';
import { TickBatcher } from '../../brokers/sqlite/batch.js';
import { acquireFile, type SqliteFile } from '../../brokers/sqlite/file.js';
import { parseSqliteUrl, type SqliteTarget } from '../../brokers/sqlite/options.js';
import { BrokerError } from '../../errors.js';
import { READY_STATES, type ResultMeta } from '../../protocol/result.js';
import type { BackendCapabilities, ResultBackend, StoreOptions } from '../backend.js';

const SWEEP_EVERY_MS = 60_000;
const SWEEP_LIMIT = 1000;
const WRITE_CHUNK = 500;
const MIN_CHECK_GAP_MS = 5;
const MAX_CHECK_INTERVAL_MS = 500;
const READY_LIST = [...READY_STATES].map((s) => `'${s}'`).join(', ');

interface Write {
  meta: ResultMeta;
  expiresAt: number | null;
}

interface Waiter {
  finish(meta: ResultMeta | null): void;
}

const expiresAt = (o: StoreOptions): number | null => (o.expires ? Date.now() + o.expires * 1000 : null);

function prepare(file: SqliteFile) {
  const db = file.db;
  return {
    upsert: db.prepare(
      `INSERT INTO results (task_id, status, meta, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (task_id) DO UPDATE SET status = excluded.status, meta = excluded.meta, expires_at = excluded.expires_at
       WHERE results.status <> 'SUCCESS'`,
    ),
    get: db.prepare('SELECT meta, expires_at FROM results WHERE task_id = ?'),
    ready: db.prepare(
      `SELECT meta FROM results WHERE task_id IN (SELECT value FROM json_each(?))
       AND status IN (${READY_LIST}) AND (expires_at IS NULL OR expires_at > ?)`,
    ),
    forget: db.prepare('DELETE FROM results WHERE task_id = ?'),
    expired: db.prepare(
      'DELETE FROM results WHERE rowid IN (SELECT rowid FROM results WHERE expires_at <= ? LIMIT ?)',
    ),
    saveGroup: db.prepare(
      `INSERT INTO result_groups (group_id, task_ids, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (group_id) DO UPDATE SET task_ids = excluded.task_ids, expires_at = excluded.expires_at`,
    ),
    getGroup: db.prepare('SELECT task_ids, expires_at FROM result_groups WHERE group_id = ?'),
    forgetGroup: db.prepare('DELETE FROM result_groups WHERE group_id = ?'),
    expiredGroups: db.prepare(
      'DELETE FROM result_groups WHERE rowid IN (SELECT rowid FROM result_groups WHERE expires_at <= ? LIMIT ?)',
    ),
  };
}
type Statements = ReturnType<typeof prepare>;
type WriteTx = Transaction<(items: readonly Write[]) => ResultMeta[]>;

export class SqliteBackend implements ResultBackend {
  readonly transport = 'sqlite';
  readonly capabilities: BackendCapabilities = { groups: true, expiry: true };
  readonly #target: SqliteTarget;
  readonly #writes = new TickBatcher<Write>((items) => this.#write(items));
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #onLocal = (metas: ResultMeta[]) => {
    for (const meta of metas) if (READY_STATES.has(meta.status)) this.#deliver(meta);
  };
  #file: SqliteFile | null = null;
  #st: Statements | null = null;
  #writeTx: WriteTx | null = null;
  #loop: Promise<void> | null = null;
  #stopLoop = new AbortController();
  #checkCap = MAX_CHECK_INTERVAL_MS;
  #lastSweep = 0;

  readonly #ownConnection: boolean;

  /** `ownConnection`: do not share this process's connection to the file (tests: act as another process). */
  constructor(target: SqliteTarget, { ownConnection = false } = {}) {
    this.#target = target;
    this.#ownConnection = ownConnection;
  }

  get path(): string {
    return this.#target.path;
  }

  async connect(): Promise<void> {
    if (this.#file) return;
    const file = await acquireFile(this.#target.path, this.#target.options, this.#ownConnection);
    try {
      const st = prepare(file);
      this.#writeTx = file.db.transaction((items: readonly Write[]) => {
        const written: ResultMeta[] = [];
        for (const { meta, expiresAt } of items) {
          const r = st.upsert.run(meta.task_id, meta.status, JSON.stringify(meta), expiresAt);
          if (r.changes) written.push(meta);
        }
        return written;
      });
      this.#st = st;
    } catch (err) {
      file.release();
      throw err;
    }
    this.#file = file;
    file.results.on('stored', this.#onLocal);
    this.#sweep();
  }

  #open(): { file: SqliteFile; st: Statements } {
    if (!this.#file || !this.#st) {
      throw new BrokerError(`SQLite result backend on "${this.path}" is not connected`, { retryable: false });
    }
    return { file: this.#file, st: this.#st };
  }

  store(meta: ResultMeta, options: StoreOptions): Promise<void> {
    this.#open();
    return this.#writes.add([{ meta, expiresAt: expiresAt(options) }]);
  }

  async #write(items: Write[]): Promise<void> {
    const { file } = this.#open();
    const tx = this.#writeTx as WriteTx;
    for (let i = 0; i < items.length; i += WRITE_CHUNK) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      const chunk = items.slice(i, i + WRITE_CHUNK);
      const written = await file.write(() => tx.immediate(chunk));
      // Same-process waiters (of every backend on this file) hear it now; other processes through
      // the file's change detection.
      if (written.length) file.results.emit('stored', written);
    }
    this.#sweep();
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const { file, st } = this.#open();
    const row = file.run(() => st.get.get(taskId)) as { meta: string; expires_at: number | null } | undefined;
    if (!row) return null;
    if (row.expires_at !== null && row.expires_at <= Date.now()) {
      await file.write(() => st.forget.run(taskId)); // lazily: expired means gone
      return null;
    }
    return JSON.parse(row.meta) as ResultMeta;
  }

  waitFor(
    taskId: string,
    options: { timeoutMs: number | null; intervalMs?: number; signal?: AbortSignal },
  ): Promise<ResultMeta | null> {
    return new Promise((resolve, reject) => {
      // Register before the first read, so a result stored in between is not missed.
      const finish = (meta: ResultMeta | null) => {
        const set = this.#waiters.get(taskId);
        set?.delete(waiter);
        if (set?.size === 0) this.#waiters.delete(taskId);
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve(meta);
      };
      const waiter: Waiter = { finish };
      const onAbort = () => finish(null);
      const timer = options.timeoutMs === null ? null : setTimeout(onAbort, options.timeoutMs);
      if (options.signal?.aborted) return finish(null);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      let set = this.#waiters.get(taskId);
      if (!set) {
        set = new Set();
        this.#waiters.set(taskId, set);
      }
      set.add(waiter);
      if (options.intervalMs !== undefined) this.#checkCap = Math.min(this.#checkCap, options.intervalMs);
      this.get(taskId).then(
        (meta) => {
          if (meta && READY_STATES.has(meta.status)) finish(meta);
        },
        (err) => {
          reject(err);
          finish(null); // only unregisters: the promise is already rejected
        },
      );
      this.#loop ??= this.#watch().finally(() => {
        this.#loop = null;
        this.#checkCap = MAX_CHECK_INTERVAL_MS;
      });
    });
  }

  #deliver(meta: ResultMeta): void {
    const set = this.#waiters.get(meta.task_id);
    if (set) for (const w of [...set]) w.finish(meta);
  }

  /** While anyone waits: re-read all awaited ids in one query after each change of the file. */
  async #watch(): Promise<void> {
    let interval = MIN_CHECK_GAP_MS;
    while (this.#waiters.size && this.#file) {
      const file = this.#file;
      const since = file.dataVersion();
      const started = Date.now();
      let found = 0;
      try {
        found = this.#checkAll();
      } catch {
        // A busy or failing file: waiters keep waiting (or time out); the next round retries.
      }
      if (!this.#waiters.size) break;
      interval = found ? MIN_CHECK_GAP_MS : Math.min(interval * 2, this.#checkCap);
      await file.waitForChange(interval, since, this.#stopLoop.signal);
      const gap = MIN_CHECK_GAP_MS - (Date.now() - started);
      if (gap > 0) await new Promise((r) => setTimeout(r, gap));
    }
  }

  #checkAll(): number {
    const { file, st } = this.#open();
    const ids = JSON.stringify([...this.#waiters.keys()]);
    const rows = file.run(() => st.ready.all(ids, Date.now())) as Array<{ meta: string }>;
    for (const row of rows) this.#deliver(JSON.parse(row.meta) as ResultMeta);
    return rows.length;
  }

  async forget(taskId: string): Promise<void> {
    const { file, st } = this.#open();
    await this.#writes.drain(); // a store() just before forget() must not resurrect the result
    await file.write(() => st.forget.run(taskId));
  }

  async saveGroup(groupId: string, taskIds: readonly string[], options: StoreOptions): Promise<void> {
    const { file, st } = this.#open();
    await file.write(() => st.saveGroup.run(groupId, JSON.stringify(taskIds), expiresAt(options)));
  }

  async getGroup(groupId: string): Promise<string[] | null> {
    const { file, st } = this.#open();
    const row = file.run(() => st.getGroup.get(groupId)) as
      | { task_ids: string; expires_at: number | null }
      | undefined;
    if (!row) return null;
    if (row.expires_at !== null && row.expires_at <= Date.now()) {
      await file.write(() => st.forgetGroup.run(groupId));
      return null;
    }
    return JSON.parse(row.task_ids) as string[];
  }

  /** Delete expired results and groups, at most once a minute, a bounded number at a time. */
  #sweep(): void {
    const now = Date.now();
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    const { file, st } = this.#open();
    const sweep = file.db.transaction(() => {
      st.expired.run(now, SWEEP_LIMIT);
      st.expiredGroups.run(now, SWEEP_LIMIT);
    });
    file
      .write(() => sweep.immediate())
      .catch(() => {
        // Only housekeeping: expired rows already read as missing; the next sweep tries again.
      });
  }

  async close(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    await this.#writes.drain();
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w.finish(null);
    this.#stopLoop.abort();
    await this.#loop;
    this.#stopLoop = new AbortController();
    file.results.off('stored', this.#onLocal);
    this.#file = null;
    this.#st = null;
    this.#writeTx = null;
    file.release();
  }
}

export function createSqliteBackend(url: URL, options: Record<string, unknown> = {}): SqliteBackend {
  // The app adds its broker URL and reply oid for backends that need them (rpc://); this one does not.
  const { brokerUrl: _brokerUrl, oid: _oid, ...transportOptions } = options;
  return new SqliteBackend(parseSqliteUrl(url, transportOptions));
}
