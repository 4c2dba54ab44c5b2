/**
 * What a SQLite failure means to whoever hit it: each driver error becomes a BrokerError that names the
 * file and the fix (corrupt file, permissions, missing directory, a lock held too long, a full disk),
 * marked retryable or not; and the write probe that makes a read-only file or file system fail at
 * connect rather than at the first write.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { BrokerError } from '../../errors.js';

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
export function writeProbe(path: string): void {
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
