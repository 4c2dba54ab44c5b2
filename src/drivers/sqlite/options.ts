/**
 * The sqlite:// URL grammar and transport options, shared by the SQLite broker and result backend.
 * Options come from the URL query (snake_case, as kombu's transport options) or from
 * `brokerTransportOptions` / `resultBackendTransportOptions` (camelCase); the URL wins. Every default is
 * declared here, once.
 */
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import { hint } from '../../util/suggest.js';

export const sqliteDefaults = {
  /**
   * Seconds a broker connection may go silent (no heartbeat) before the messages it holds unacked go back
   * to their queues. Live connections heartbeat every `min(visibilityTimeout / 4, 30 s)`, so a long task
   * or an ETA message held by a live worker is never handed to another one, however long it waits; the
   * timeout only decides how soon a crashed (SIGKILLed, OOM-killed) worker's messages come back, against
   * how long a worker's event loop may stall (a CPU-bound task under `-P solo`) before it looks dead.
   * @defaultValue 600 (10 minutes)
   */
  visibilityTimeout: 600,
  /**
   * Milliseconds a statement waits for another process's write lock before failing with SQLITE_BUSY
   * (at connect: a clear error; later: retried by the consume loop).
   * @defaultValue 5000
   */
  busyTimeout: 5000,
  /**
   * Seconds: the longest gap of the fallback poll that notices commits by other processes when the file
   * watcher cannot (the poll starts at 1 ms and doubles up to this; it reads one counter, no query).
   * @defaultValue 0.05
   */
  pollingInterval: 0.05,
  /**
   * SQLite `synchronous`: 'normal' survives the crash of any process (WAL); on power loss the last
   * commits may roll back. 'full' fsyncs every commit, several times slower.
   * @defaultValue 'normal'
   */
  synchronous: 'normal' as 'normal' | 'full',
};

export type SqliteOptions = typeof sqliteDefaults;

const SNAKE: Record<string, keyof SqliteOptions> = {
  visibility_timeout: 'visibilityTimeout',
  busy_timeout: 'busyTimeout',
  polling_interval: 'pollingInterval',
  synchronous: 'synchronous',
};

export interface SqliteTarget {
  /** Absolute path of the database file. */
  path: string;
  options: Readonly<SqliteOptions>;
}

/**
 * `sqlite://./celeriac.db` and `sqlite://name.db` are relative to the working directory,
 * `sqlite:///abs/path.db` is absolute, `sqlite://~/x.db` is under the home directory. (SQLAlchemy reads
 * three slashes as relative; here, as in a file:// URL, the path after `sqlite://` is written as is.)
 */
export function parseSqliteUrl(
  url: URL,
  options: Record<string, unknown> = {},
  cwd = process.cwd(),
): SqliteTarget {
  const raw = decodeURIComponent(url.host + url.pathname);
  if (raw === '' || raw === '/') {
    throw new ConfigError(
      `SQLite URL "${url.href}" names no file (expected sqlite://./celeriac.db or sqlite:///abs/path.db)`,
    );
  }
  if (raw.includes(':memory:')) {
    throw new ConfigError(
      'sqlite:// needs a file that several processes can share; for an in-process broker use memory://',
    );
  }
  let path = raw;
  if (path === '~' || path.startsWith('~/')) path = homedir() + path.slice(1);
  else if (/^\/[A-Za-z]:\//.test(path)) path = path.slice(1); // sqlite:///C:/x.db on Windows
  path = isAbsolute(path) ? path : resolve(cwd, path);

  const merged: Record<string, unknown> = { ...options };
  for (const [key, value] of url.searchParams) {
    const camel = SNAKE[key];
    if (!camel) {
      throw new ConfigError(`Unknown sqlite:// URL option "${key}"${hint(key, Object.keys(SNAKE))}`);
    }
    merged[camel] = value;
  }
  return { path, options: Object.freeze(validate(merged)) };
}

function validate(input: Record<string, unknown>): SqliteOptions {
  const out: SqliteOptions = { ...sqliteDefaults };
  for (const [key, value] of Object.entries(input)) {
    // Accept snake_case in the options object too, as kombu users write it.
    const name = (SNAKE[key] ?? key) as keyof SqliteOptions;
    if (!(name in sqliteDefaults)) {
      throw new ConfigError(
        `Unknown sqlite transport option "${key}"${hint(key, Object.keys(sqliteDefaults))}`,
      );
    }
    if (name === 'synchronous') {
      const s = String(value).toLowerCase();
      if (s !== 'normal' && s !== 'full') {
        throw new ConfigError(`sqlite option synchronous must be 'normal' or 'full', got "${String(value)}"`);
      }
      out.synchronous = s;
      continue;
    }
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new ConfigError(`sqlite option ${name} must be a positive number, got "${String(value)}"`);
    }
    out[name] = n;
  }
  return out;
}
