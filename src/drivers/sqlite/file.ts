/**
 * One better-sqlite3 connection per database file per process, shared (refcounted) by the SQLite broker
 * stores and result backends of that process. It owns:
 *  - opening: loading the driver, pragmas (WAL, busy_timeout, synchronous), migrations;
 *  - translating driver errors into BrokerErrors that say what to do, and which ones are worth a retry;
 *  - change notification without busy polling: waiters of this process are woken by `notifyLocal()`
 *    after this connection commits, and commits by other processes are noticed by a watch on the -wal
 *    file (inotify/FSEvents: no cost while idle) backed by a poll of `PRAGMA data_version` (a counter read
 *    from shared memory, no query). While the watch works the poll runs once a second as a safety net;
 *    where it does not (no -wal file yet, watch unsupported, or caught missing a commit: some container
 *    bind mounts), the poll starts at 1 ms and backs off to `pollingInterval` (50 ms);
 *  - one transaction per turn for settling: the acks, requeues and result writes of one event-loop turn,
 *    broker's and backend's alike, commit together (`inTurn`, util/coalesce.ts), one write lock and one
 *    WAL commit for all of them.
 */
import { EventEmitter } from 'node:events';
import { accessSync, constants, type FSWatcher, realpathSync, statSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import { BrokerError, DriverMissingError } from '../../errors.js';
import { Coalescer } from '../../util/coalesce.js';
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

const RETRYABLE = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_INTERRUPT']);

/**
 * Turn a driver error into a BrokerError naming the file and the fix. `opening`: errors at connect are
 * final (a worker that cannot open its broker should stop and say why), later lock errors are retried.
 */
export function translateError(err: unknown, path: string, opening: boolean, busyTimeout: number): Error {
  if (err instanceof BrokerError || !(err instanceof Error)) return err as Error;
  const code = String((err as { code?: unknown }).code ?? '');
  // Extended codes (SQLITE_READONLY_DIRECTORY, SQLITE_BUSY_SNAPSHOT) belong to their primary code.
  const family = code.split('_').slice(0, 2).join('_');
  const tag = code ? ` (${code}: ${err.message})` : ` (${err.message})`;
  let message: string;
  let retryable = false;
  if (family === 'SQLITE_NOTADB' || family === 'SQLITE_CORRUPT') {
    message =
      `"${path}" is corrupt or is not a SQLite database${tag}. Celeriac left it untouched: move it aside ` +
      `(its messages may be salvaged with: sqlite3 "${path}" .recover), or point the URL at another file.`;
  } else if (family === 'SQLITE_READONLY' || family === 'SQLITE_PERM' || family === 'SQLITE_AUTH') {
    message =
      `Cannot write "${path}"${tag}. Celeriac needs write access to the file and to its directory (for ` +
      'the -wal and -shm files beside it): fix the permissions, or point the URL at a writable ' +
      'location, e.g. sqlite:///tmp/celeriac.db.';
  } else if (family === 'SQLITE_CANTOPEN' || /directory does not exist/.test(err.message)) {
    const dir = directoryProblem(dirname(path));
    message =
      dir === 'ENOENT'
        ? `Cannot open "${path}": the directory ${dirname(path)} does not exist. Create it, or point ` +
          'the URL at an existing directory.'
        : dir === 'EACCES'
          ? `Cannot open "${path}": permission denied on its directory ${dirname(path)}. Fix the ` +
            'permissions, or point the URL at a writable location, e.g. sqlite:///tmp/celeriac.db.'
          : `Cannot open "${path}"${tag}. Check that the path is a file (not a directory) and that its ` +
            'directory is writable, or point the URL at another location.';
  } else if (family === 'SQLITE_BUSY' || family === 'SQLITE_LOCKED') {
    retryable = !opening;
    message =
      `"${path}" is locked by another process${tag}, still after busy_timeout=${busyTimeout} ms. ` +
      'Another program holds a write transaction open (an sqlite3 shell, a backup tool), or the file is ' +
      'on a network file system, which SQLite WAL mode does not support. Close that program or move the ' +
      'file to a local disk; to wait longer, add ?busy_timeout=<ms> to the URL.';
  } else if (family === 'SQLITE_FULL') {
    retryable = true;
    message = `Cannot write "${path}": the disk is full${tag}. Free some space; Celeriac retries.`;
  } else {
    retryable = RETRYABLE.has(family);
    message = `SQLite error on "${path}"${tag}`;
  }
  return new BrokerError(message, { retryable, cause: err });
}

/**
 * Check that the file and its directory are writable: a read-only file or file system, which SQLite may
 * still open for reading (an up-to-date schema needs no write, and WAL locks live in the -shm file),
 * fails here at connect with a clear error instead of leaving a worker "ready" that can never take a
 * message.
 */
function writeProbe(path: string): void {
  for (const target of [path, dirname(path)]) {
    try {
      accessSync(target, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      const why = code === 'EROFS' ? 'it is on a read-only file system' : `no write access to ${target}`;
      throw Object.assign(new Error(`${why} (${code})`), { code: 'SQLITE_READONLY' });
    }
  }
}

/** Whether waits watch the -wal file; bench/sqlite-wait.ts turns it off to measure the fallback poll. */
export const walWatch = { enabled: true };

function directoryProblem(dir: string): string | null {
  try {
    statSync(dir);
    accessSync(dir, constants.W_OK | constants.X_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'ENOENT' : 'EACCES';
  }
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
/** Fallback poll period while the -wal watch is trusted (it only guards against a missed event). */
const TRUSTED_WATCH_POLL_MS = 1000;
/** How long the -wal watch stays open after the last waiter left (so a consumer loop does not churn it). */
const WATCH_LINGER_MS = 2000;

export class SqliteFile {
  readonly path: string;
  readonly db: Database;
  readonly busyTimeout: number;
  refs = 0;
  /** 'stored' (metas): results written through this connection, for same-process result waiters. */
  readonly results = new EventEmitter().setMaxListeners(0);
  readonly #shared: boolean;
  readonly #listeners = new Set<() => void>();
  readonly #pollCap: number;
  readonly #dataVersion: Statement<[], number>;
  #watcher: FSWatcher | null = null;
  /** True while the watch has not been caught missing a commit; then the poll only runs as a safety net. */
  #watchTrusted = false;
  #lastEventAt = 0;
  #linger: NodeJS.Timeout | null = null;
  #timer: NodeJS.Timeout | null = null;
  #delay = 1;
  #version = 0;
  #closed = false;
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
    this.#pollCap = Math.max(1, Math.round(options.pollingInterval * 1000));
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
    this.#fire();
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
    if (this.#closed || signal?.aborted || ms <= 0) return Promise.resolve();
    const now = this.dataVersion();
    if (now !== since) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#listeners.delete(done);
        if (this.#listeners.size === 0) this.#idle();
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.#listeners.add(done);
      if (this.#listeners.size === 1) this.#startMonitor(now);
    });
  }

  #fire(): void {
    for (const l of [...this.#listeners]) l();
  }

  #startMonitor(version: number): void {
    this.#version = version;
    if (this.#linger) clearTimeout(this.#linger);
    this.#linger = null;
    if (!walWatch.enabled) this.#closeWatcher();
    else if (!this.#watcher) this.#watch();
    // Without a trusted watch, a consumer that just found nothing polls fast first: work tends to come
    // in bursts. With one, the watch brings the latency and the poll is only a safety net.
    this.#delay = this.#watcher && this.#watchTrusted ? TRUSTED_WATCH_POLL_MS : 1;
    this.#schedule();
  }

  #watch(): void {
    try {
      this.#watcher = watch(`${this.path}-wal`, { persistent: false }, () => this.#kick());
      this.#watcher.on('error', () => this.#closeWatcher());
      this.#watchTrusted = true;
    } catch {
      this.#watcher = null; // no -wal file yet, or no watch support: the poll alone still works
    }
  }

  /** The last waiter left: stop polling now, close the watch a little later. */
  #idle(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#watcher || this.#linger) return;
    this.#linger = setTimeout(() => {
      this.#linger = null;
      if (this.#listeners.size === 0) this.#closeWatcher();
    }, WATCH_LINGER_MS);
    this.#linger.unref();
  }

  #closeWatcher(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }

  /**
   * A write to the -wal file, by any process. It comes before the commit is visible (frames first, then
   * the index in shared memory), so it restarts the fast end of the poll rather than waking waiters.
   */
  #kick(): void {
    this.#lastEventAt = Date.now();
    if (this.#listeners.size === 0) return;
    this.#delay = 1;
    this.#schedule(0);
  }

  #schedule(delay = this.#delay): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#poll(), delay);
    this.#timer.unref();
  }

  #poll(): void {
    this.#timer = null;
    if (this.#listeners.size === 0 || this.#closed) return;
    let v: number;
    try {
      v = this.#dataVersion.get() as number;
    } catch {
      v = this.#version + 1; // let the waiters run their statement and meet the error themselves
    }
    const cap = this.#watcher && this.#watchTrusted ? TRUSTED_WATCH_POLL_MS : this.#pollCap;
    if (v !== this.#version) {
      this.#version = v;
      this.#delay = 1;
      if (this.#watcher && this.#watchTrusted) this.#verifyWatch(Date.now());
      this.#fire();
    } else {
      this.#delay = Math.min(this.#delay * 2, cap);
    }
    if (this.#listeners.size > 0) this.#schedule();
  }

  /**
   * The poll saw a commit: the watch should have reported a write within the last poll period (or does
   * so in a moment, its event being still queued). If not, it does not work here (some container bind
   * mounts, network shares): from now on the poll runs at full speed.
   */
  #verifyWatch(seenAt: number): void {
    setTimeout(() => {
      if (this.#lastEventAt < seenAt - TRUSTED_WATCH_POLL_MS - 50) this.#watchTrusted = false;
    }, 25).unref();
  }

  /** Drop one reference; the last one closes the connection. */
  release(): void {
    if (--this.refs > 0) return;
    this.#closed = true;
    this.#fire();
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#linger) clearTimeout(this.#linger);
    this.#closeWatcher();
    if (this.#shared) files.delete(this.path);
    this.db.close();
  }
}
