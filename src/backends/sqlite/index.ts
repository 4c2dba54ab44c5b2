/**
 * sqlite:// result backend: Celery's result metas (JSON) in the same file and through the same
 * connection as the SQLite broker, so `resultBackend: null` with a sqlite:// broker needs nothing else.
 *
 * | feature        | support |
 * |----------------|---------|
 * | URL            | as the broker (drivers/sqlite/options.ts); broker-only options such as visibility_timeout are accepted and ignored |
 * | writes         | the `store()` calls of one event-loop turn go in one transaction, the one that also carries the SQLite broker's acks of that turn (SqliteFile.inTurn); a SUCCESS is never overwritten (as Celery's key-value backends: a redelivered duplicate must not clobber it) |
 * | waiting        | waiters of this process are woken by an event when this process stores; for other processes one loop per backend re-reads every awaited id in one query, only after the file changed (-wal watch, data_version poll), at most every 5 ms, and at least every `intervalMs` (500 ms) |
 * | expiry         | `expires_at` per result and group; expired rows read as missing and are deleted on read and by a sweep at most once a minute from `store()` |
 * | chords         | 'counter': `chords` (size) and `chord_parts` (one row per finished part) updated in one IMMEDIATE transaction, so of several processes sharing the file exactly one counts the last part and fires the body |
 */
import type { Transaction } from 'better-sqlite3';
import { TurnBatch } from '../../drivers/sqlite/batch.js';
import { acquireFile, type SqliteFile } from '../../drivers/sqlite/file.js';
import { parseSqliteUrl, type SqliteTarget } from '../../drivers/sqlite/options.js';
import { BrokerError } from '../../errors.js';
import { encodeJson } from '../../protocol/json.js';
import { READY_STATES, type ResultMeta } from '../../protocol/result.js';
import { type BackendCapabilities, chordResults, type ResultBackend, type StoreOptions } from '../backend.js';
import { ResultWaiters, type WaitOptions } from '../waiters.js';

const SWEEP_EVERY_MS = 60_000;
const SWEEP_LIMIT = 1000;
const WRITE_CHUNK = 500;
/** Shortest gap between two reads of the awaited ids, and the pause after a round that found one. */
const MIN_CHECK_GAP_MS = 5;
/** Longest pause between two reads while nothing changes (a waiter's intervalMs may shorten it). */
const MAX_CHECK_INTERVAL_MS = 500;
const READY_LIST = [...READY_STATES].map((s) => `'${s}'`).join(', ');

interface Write {
  meta: ResultMeta;
  /** The meta encoded before batching: one value that cannot be encoded must not fail the whole batch. */
  json: string;
  expiresAt: number | null;
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
    chordSize: db.prepare(
      `INSERT INTO chords (group_id, size, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (group_id) DO UPDATE SET size = excluded.size, expires_at = excluded.expires_at`,
    ),
    chordGet: db.prepare('SELECT size, expires_at FROM chords WHERE group_id = ?'),
    chordPart: db.prepare(
      `INSERT INTO chord_parts (group_id, task_id, idx, state, result) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (group_id, task_id) DO UPDATE SET idx = excluded.idx, state = excluded.state, result = excluded.result`,
    ),
    chordCount: db.prepare('SELECT count(*) AS n FROM chord_parts WHERE group_id = ?'),
    chordParts: db.prepare(
      'SELECT task_id, state, result FROM chord_parts WHERE group_id = ? ORDER BY idx, task_id',
    ),
    chordDelete: db.prepare('DELETE FROM chords WHERE group_id = ?'),
    chordDeleteParts: db.prepare('DELETE FROM chord_parts WHERE group_id = ?'),
    expiredChords: db.prepare(
      `DELETE FROM chord_parts WHERE group_id IN (SELECT group_id FROM chords WHERE expires_at <= ? LIMIT ?)`,
    ),
    expiredChordRows: db.prepare(
      'DELETE FROM chords WHERE rowid IN (SELECT rowid FROM chords WHERE expires_at <= ? LIMIT ?)',
    ),
  };
}
type Statements = ReturnType<typeof prepare>;
interface PartRow {
  task_id: string;
  state: string;
  result: string;
}
type PartTx = Transaction<
  (groupId: string, index: number, meta: ResultMeta, size: number | null) => PartRow[] | null
>;

export class SqliteBackend implements ResultBackend {
  readonly transport = 'sqlite';
  readonly capabilities: BackendCapabilities = { groups: true, expiry: true, chords: 'counter' };
  readonly #target: SqliteTarget;
  /**
   * The result writes of a turn: one work of the file's settling transaction of that turn, which also
   * carries the SQLite broker's acks of that turn (SqliteFile.inTurn).
   */
  #writes: TurnBatch<Write, ResultMeta[]> | null = null;
  /**
   * Stores by this process (every backend on this file) are heard at once through the file's 'stored'
   * event; stores by other processes by polling: one query for every awaited id, repeated only after the
   * file changed (its -wal watch and data_version poll), see ../waiters.ts for the pacing.
   */
  readonly #waiters = new ResultWaiters({
    read: (ids) => this.#ready(ids),
    poll: {
      minIntervalMs: MIN_CHECK_GAP_MS,
      maxIntervalMs: MAX_CHECK_INTERVAL_MS,
      read: (ids) => {
        // Remember the version read at, so a commit between this read and the wait ends the wait at once.
        this.#readAt = this.#open().file.dataVersion();
        return this.#ready(ids);
      },
      changed: (ms, signal) => this.#file?.waitForChange(ms, this.#readAt, signal) ?? Promise.resolve(),
    },
  });
  readonly #onLocal = (metas: ResultMeta[]) => {
    for (const meta of metas) this.#waiters.notify(meta);
  };
  #file: SqliteFile | null = null;
  #st: Statements | null = null;
  #partTx: PartTx | null = null;
  #readAt = 0;
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
      // One transaction per part: record it, count, and when it is the last, take the parts and delete
      // the counter. IMMEDIATE (below) takes the write lock first, so two processes never both count N.
      this.#partTx = file.db.transaction(
        (groupId: string, index: number, meta: ResultMeta, size: number | null) => {
          const chord = st.chordGet.get(groupId) as
            | { size: number | null; expires_at: number | null }
            | undefined;
          st.chordPart.run(groupId, meta.task_id, index, meta.status, JSON.stringify(meta.result ?? null));
          const total = chord?.size ?? size;
          const { n } = st.chordCount.get(groupId) as { n: number };
          if (total === null || total === undefined || n !== total) return null;
          const rows = st.chordParts.all(groupId) as PartRow[];
          st.chordDeleteParts.run(groupId);
          st.chordDelete.run(groupId);
          return rows;
        },
      );
      this.#writes = new TurnBatch(
        file,
        (items) => {
          const written: ResultMeta[] = [];
          for (const w of items) {
            if (st.upsert.run(w.meta.task_id, w.meta.status, w.json, w.expiresAt).changes)
              written.push(w.meta);
          }
          return written;
        },
        (written) => {
          // Same-process waiters (of every backend on this file) hear it now; other processes through
          // the file's change detection.
          if (written.length) file.results.emit('stored', written);
          this.#sweep();
        },
        WRITE_CHUNK,
      );
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
    let json: string;
    try {
      json = encodeJson(meta);
    } catch (err) {
      return Promise.reject(err);
    }
    return (this.#writes as TurnBatch<Write, ResultMeta[]>).add({
      meta,
      json,
      expiresAt: expiresAt(options),
    });
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

  waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta | null> {
    return this.#waiters.wait(taskId, options);
  }

  /** The ready, unexpired metas of `ids`, in one query. */
  #ready(ids: readonly string[]): ResultMeta[] {
    const { file, st } = this.#open();
    const rows = file.run(() => st.ready.all(JSON.stringify(ids), Date.now())) as Array<{ meta: string }>;
    return rows.map((row) => JSON.parse(row.meta) as ResultMeta);
  }

  async forget(taskId: string): Promise<void> {
    const { file, st } = this.#open();
    await this.#writes?.drain(); // a store() just before forget() must not resurrect the result
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

  async prepareChord(groupId: string, size: number, options: StoreOptions): Promise<void> {
    const { file, st } = this.#open();
    await file.write(() => st.chordSize.run(groupId, size, expiresAt(options)));
  }

  async chordPartReturn(
    groupId: string,
    index: number | null,
    meta: ResultMeta,
    size: number | null,
  ): Promise<unknown[] | null> {
    const { file } = this.#open();
    const tx = this.#partTx as PartTx;
    // Big but finite: SQLite's REAL keeps Infinity, but an index of null is ordered last either way.
    const idx = index ?? Number.MAX_SAFE_INTEGER;
    const rows = await file.write(() => tx.immediate(groupId, idx, meta, size));
    if (!rows) return null;
    return chordResults(
      rows.map((r) => ({ taskId: r.task_id, state: r.state, result: JSON.parse(r.result) as unknown })),
    );
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
      st.expiredChords.run(now, SWEEP_LIMIT);
      st.expiredChordRows.run(now, SWEEP_LIMIT);
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
    await this.#writes?.drain();
    await this.#waiters.close();
    file.results.off('stored', this.#onLocal);
    this.#file = null;
    this.#st = null;
    this.#partTx = null;
    this.#writes = null;
    file.release();
  }
}

export function createSqliteBackend(url: URL, options: Record<string, unknown> = {}): SqliteBackend {
  // The app adds its broker URL and reply oid for backends that need them (rpc://); this one does not.
  const { brokerUrl: _brokerUrl, oid: _oid, ...transportOptions } = options;
  return new SqliteBackend(parseSqliteUrl(url, transportOptions));
}
