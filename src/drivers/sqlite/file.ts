/**
 * One better-sqlite3 connection per database file per process, shared (refcounted) by the SQLite broker
 * stores and result backends of that process. It owns:
 *  - opening: loading the driver, pragmas (WAL, busy_timeout, synchronous), migrations, the write probe;
 *  - writing: lock waits that do not block the event loop, and one transaction per turn for settling:
 *    the acks, requeues and result writes of one event-loop turn, broker's and backend's alike, commit
 *    together (`inTurn`, util/coalesce.ts), one write lock and one WAL commit for all of them;
 *  - change notification without busy polling (`waitForChange`, `notifyLocal`), done by its
 *    ChangeMonitor (changes.ts: a watch on the -wal file backed by a poll of data_version).
 * Driver errors become BrokerErrors that say what to do, and which are worth a retry, in errors.ts.
 */
import { EventEmitter } from 'node:events';
import { realpathSync } from 'node:fs';
import type { Database, Statement } from 'better-sqlite3';
import { DriverMissingError } from '../../errors.js';
import { Coalescer } from '../../util/coalesce.js';
import { ChangeMonitor } from './changes.js';
import { translateError, writeProbe } from './errors.js';
import type { SqliteOptions } from './options.js';
import { migrate } from './schema.js';

type DatabaseCtor = new (path: string, options?: { timeout?: number }) => Database;

let driver: DatabaseCtor | null = null;

async function loadDriver(): Promise<DatabaseCtor> {
  if (driver) return driver;
  try {
    driver = (await import('better-sqlite3')).default as unknown as DatabaseCtor;
  } catch {
    throw new DriverMissingError('better-sqlite3', 'sqlite');
  }
  return driver;
}

const files = new Map<string, SqliteFile>();
const opening = new Map<string, Promise<SqliteFile>>();

/**
 * The process-wide connection to `path`, opened on first use; call `release()` once per `acquire`.
 * `own`: open a connection of its own instead (tests use it to act as a second process).
 */
export async function acquireFile(path: string, options: SqliteOptions, own = false): Promise<SqliteFile> {
  const key = canonical(path);
  if (own) {
    const file = new SqliteFile(key, await loadDriver(), options, false);
    file.refs++;
    return file;
  }
  const open = files.get(key);
  if (open) {
    open.refs++;
    return open;
  }
  let pending = opening.get(key);
  if (!pending) {
    pending = loadDriver().then((Ctor) => {
      const file = new SqliteFile(key, Ctor, options);
      files.set(key, file);
      return file;
    });
    opening.set(key, pending);
    pending.finally(() => opening.delete(key)).catch(() => {});
  }
  const file = await pending;
  file.refs++;
  return file;
}

function canonical(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path; // not created yet
  }
}

/** Works (chunks of settling rows) per turn transaction. */
const TURN_WORKS = 4;
/** Longest wait for a lock inside SQLite (event loop blocked); see write(). */
const SYNC_BUSY_MS = 10;

export class SqliteFile {
  readonly path: string;
  readonly db: Database;
  readonly busyTimeout: number;
  refs = 0;
  /** 'stored' (metas): results written through this connection, for same-process result waiters. */
  readonly results = new EventEmitter().setMaxListeners(0);
  readonly #shared: boolean;
  readonly #dataVersion: Statement<[], number>;
  readonly #changes: ChangeMonitor;
  /** Writes committed through write() (each a transaction or one statement); tests count them. */
  transactions = 0;
  /**
   * The settling writes of one turn, run in one IMMEDIATE transaction, in order (serial: an ack never
   * overtakes the result written before it). At most TURN_WORKS works (each a chunk of at most ~500
   * rows) per transaction, so other processes never wait long for the lock.
   */
  readonly #turn = new Coalescer<() => void>((works) => this.write(() => this.#runTurn(works)), {
    serial: true,
    max: TURN_WORKS,
  });
  readonly #runTurn: (works: ReadonlyArray<() => void>) => void;

  constructor(path: string, Ctor: DatabaseCtor, options: SqliteOptions, shared = true) {
    this.path = path;
    this.#shared = shared;
    this.busyTimeout = options.busyTimeout;
    const pollCap = Math.max(1, Math.round(options.pollingInterval * 1000));
    let db: Database | null = null;
    try {
      db = new Ctor(path, { timeout: options.busyTimeout });
      // A read first: a file that is not SQLite fails here (SQLITE_NOTADB), before any write.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous.toUpperCase()}`);
      // Keep the -wal file from growing without bound after bursts (it is truncated on checkpoint).
      db.pragma('journal_size_limit = 67108864');
      migrate(db, path);
      writeProbe(path);
      // Migrations could wait the whole busy_timeout; from now on long waits happen in write().
      db.pragma(`busy_timeout = ${Math.min(SYNC_BUSY_MS, options.busyTimeout)}`);
      this.#dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    } catch (err) {
      db?.close();
      throw translateError(err, path, true, options.busyTimeout);
    }
    this.#changes = new ChangeMonitor(path, pollCap, () => this.#dataVersion.get() as number);
    this.db = db;
    const all = db.transaction((works: ReadonlyArray<() => void>) => {
      for (const w of works) w();
    });
    this.#runTurn = (works) => all.immediate(works);
  }

  /**
   * Run `work` inside this turn's settling transaction; resolves once it committed. All or nothing: when
   * any work of the transaction throws (or the lock cannot be had), it rolls back and every work in it
   * fails. `work` must be safe to run again (a busy lock retries the whole transaction) and must use
   * plain statements, not transaction functions.
   */
  inTurn(work: () => void): Promise<void> {
    return this.#turn.add(work);
  }

  /**
   * Run a write transaction `fn` (it must be safe to run again: a transaction that failed to start or
   * rolled back). SQLite's own busy handler sleeps with the event loop blocked, in steps growing to
   * 100 ms, so it only gets `SYNC_BUSY_MS`; beyond that the lock is retried here every 1–16 ms without
   * blocking, until `busyTimeout`. Under contention between processes this keeps every event loop
   * responsive and hands the lock over within a millisecond or two of its release.
   */
  async write<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.busyTimeout;
    let delay = 1;
    for (;;) {
      try {
        const out = fn();
        this.transactions++;
        return out;
      } catch (err) {
        const code = String((err as { code?: unknown }).code ?? '');
        const busy = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
        if (!busy || Date.now() >= deadline) throw translateError(err, this.path, false, this.busyTimeout);
        await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
        delay = Math.min(delay * 2, 16);
      }
    }
  }

  /** Run `fn`, translating driver errors (the connection is already open). */
  run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw translateError(err, this.path, false, this.busyTimeout);
    }
  }

  /** Counter that changes when another connection commits (SQLite's data_version). */
  dataVersion(): number {
    return this.run(() => this.#dataVersion.get() as number);
  }

  /** Wake this process's waiters after a commit through this connection. */
  notifyLocal(): void {
    this.localCommits++;
    this.#changes.fire();
  }

  /**
   * How many times `notifyLocal` ran. Commits through this connection do not change data_version, so a
   * caller whose look at the data awaits (and may miss a notification meanwhile) compares this before
   * and after the look, and looks again instead of waiting when it moved.
   */
  localCommits = 0;

  /**
   * Resolve after a commit that may matter (any commit by this process through `notifyLocal`, any
   * commit by another process), when `ms` passes, or when `signal` aborts. `since`: the data_version read
   * before the caller last looked at the data; a commit after it resolves at once.
   */
  waitForChange(ms: number, since: number, signal?: AbortSignal): Promise<void> {
    if (this.#changes.closed || signal?.aborted || ms <= 0) return Promise.resolve();
    const now = this.dataVersion();
    if (now !== since) return Promise.resolve();
    return this.#changes.wait(ms, now, signal);
  }

  /** Drop one reference; the last one closes the connection. */
  release(): void {
    if (--this.refs > 0) return;
    this.#changes.close();
    if (this.#shared) files.delete(this.path);
    this.db.close();
  }
}
