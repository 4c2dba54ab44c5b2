/**
 * The worker's state file (`--statedb`, the setting workerStateDb; Celery's worker_state_db): what a
 * worker keeps across restarts, which as in Celery is the revoked ids and the Lamport clock.
 *
 * Why a JSON file written whole, not SQLite: the state is one small document (at most REVOKES_MAX ids,
 * about 2.5 MB) that is always read whole at start and written whole, as Celery's shelve does; a temp
 * file renamed over the old one is all-or-nothing on every platform, and it is readable with `cat`.
 * Writes are rare (after a revoke, debounced; at shutdown), so rewriting the whole file costs nothing
 * that matters.
 *
 * Celery's own file is a Python shelve of pickles: it is never read here (unpickling runs code). Such a
 * file, or any file that is not ours, stops the worker with a clear error and is left as it was.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

export const STATE_FORMAT = 'celeriac-worker-state';

export interface WorkerStateData {
  /** Lamport clock value when saved (Celery stores 'clock'). */
  clock: number;
  /** Revoked id → epoch seconds when it was revoked (Celery stores them pickled, as 'zrevoked'). */
  revoked: Record<string, number>;
}

/** Read the state file; null when it does not exist yet. */
export async function loadWorkerState(path: string): Promise<WorkerStateData | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(`cannot read the worker state file ${path}: ${(err as Error).message}`);
  }
  const notOurs = (why: string) =>
    new ConfigError(
      `${path} is not a Celeriac worker state file (${why}). Celery's shelve state files are not read (they hold pickles); pass another --statedb path or remove this file`,
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw notOurs('not JSON');
  }
  const d = doc as Partial<WorkerStateData> & { format?: unknown; version?: unknown };
  if (typeof d !== 'object' || d === null || d.format !== STATE_FORMAT) throw notOurs('no "format" marker');
  if (d.version !== 1) throw notOurs(`version ${String(d.version)}; this worker reads version 1`);
  const revoked = typeof d.revoked === 'object' && d.revoked !== null ? d.revoked : {};
  const clock = typeof d.clock === 'number' && Number.isFinite(d.clock) ? d.clock : 0;
  return { clock, revoked };
}

/** Write the state file atomically: a temp file beside it, flushed, then renamed over it. */
export async function saveWorkerState(path: string, data: WorkerStateData): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const body = JSON.stringify({ format: STATE_FORMAT, version: 1, clock: data.clock, revoked: data.revoked });
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
