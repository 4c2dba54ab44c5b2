/**
 * Expiry and revoke: a task past its `expires`, or whose id was revoked, does not run. It is settled as
 * a 'revoked' outcome instead (REVOKED stored, message acked, task_revoked sent), both when it arrives
 * and again when a pool slot is free for it (it may have expired or been revoked while it waited for
 * its ETA, a rate-limit token or a slot).
 *
 * The revoked ids are the worker's own, as in Celery (worker/revoked.ts: capped at workerRevokesMax,
 * each kept workerRevokeExpires seconds), kept across restarts in the workerStateDb file when one is set
 * (worker/state-db.ts: loaded at start, saved a second after a change and at shutdown). Remote control
 * reaches them through `control`: `revoke` (with `terminate`: the pool stops the running task, see
 * Pool.terminate), `terminate`, `revoked` (inspect) and mingle's `hello`; replies are Celery 5.2's.
 */
import { ConfigError } from '../errors.js';
import type { Outcome } from '../task/outcome.js';
import { realTimeoutClock, type TimeoutClock } from '../util/clock.js';
import { parseSignal } from '../util/signum.js';
import { RevokedSet } from '../worker/revoked.js';
import { loadWorkerState, saveWorkerState } from '../worker/state-db.js';
import type { ControlHandler, Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

const EXPIRED: Outcome = Object.freeze({ kind: 'revoked', expired: true, runtime: 0 });
const REVOKED: Outcome = Object.freeze({ kind: 'revoked', expired: false, runtime: 0 });
/** A change is written to the state file this long after it (many revokes in a burst: one write). */
const SAVE_DELAY_MS = 1000;

export interface RevokeHooks extends WorkerMiddleware {
  revoke(id: string): void;
  isRevoked(id: string): boolean;
  /** The revoked ids with when they were revoked (epoch seconds), as mingle's `hello` exchanges them. */
  snapshot(): Record<string, number>;
  /**
   * Add the revoked ids another worker reported (mingle: each `hello` reply's `revoked`): `{id: seconds}`
   * or Celery's `{id: [seconds, id]}`; malformed entries are skipped and logged.
   */
  merge(revoked: unknown): void;
  /** Remote control's `revoke`: revoke `ids`, and with `terminate` stop the running ones; Celery's reply. */
  revokeTasks(ids: unknown, terminate: boolean, signal?: unknown): { ok: string };
  /** Write the state file now (when workerStateDb is set). */
  save(): Promise<void>;
  readonly control: Readonly<Record<string, ControlHandler>>;
}

export interface RevokeOptions {
  /** Time for expiry and revoke stamps (tests pass a ManualClock). @defaultValue the real clock */
  clock?: TimeoutClock;
}

/**
 * Peers' revoked ids as `{id: seconds}`: Celery's LimitedSet data `{id: [seconds, id]}` and a bare list
 * (revoked now) included. `merge()` takes all of these itself; this is for callers that want the plain
 * shape first (worker/remote.ts's mingle).
 */
export function revokedFromWire(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!v || typeof v !== 'object') return out;
  const now = Date.now() / 1000;
  if (Array.isArray(v)) {
    for (const id of v) if (typeof id === 'string') out[id] = now;
    return out;
  }
  for (const [id, at] of Object.entries(v)) {
    const ts = Array.isArray(at) ? at[0] : at;
    out[id] = typeof ts === 'number' && Number.isFinite(ts) ? ts : now;
  }
  return out;
}

/** Stamps Python reads as floats (see wireSeconds); `snapshot()` already returns them so. */
export function revokedToWire(ids: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, at] of Object.entries(ids)) out[id] = Number.isInteger(at) ? at + 0.001 : at;
  return out;
}

/** Python's truthiness of a JSON value: Celery tests `if terminate:`. */
function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/** `task_id`: one id or a list of them (Celery's maybe_list); each a non-empty string. */
function taskIds(input: unknown): string[] {
  const list = input === undefined || input === null ? [] : Array.isArray(input) ? input : [input];
  for (const id of list)
    if (typeof id !== 'string' || !id)
      throw new ConfigError(`task_id must be a task id or a list of them, got ${JSON.stringify(id)}`);
  return [...new Set(list as string[])];
}

export function revoke(options: RevokeOptions = {}): Middleware {
  return {
    name: 'revoke',
    async worker(scope: WorkerScope): Promise<RevokeHooks> {
      const { conf, logger, hostname } = scope;
      const clock = options.clock ?? realTimeoutClock;
      const revoked = new RevokedSet({
        max: conf.workerRevokesMax,
        expires: conf.workerRevokeExpires,
        clock,
      });
      const path = conf.workerStateDb;
      if (path) {
        const saved = await loadWorkerState(path);
        if (saved) {
          const { skipped } = revoked.merge(saved.revoked);
          scope.clock.adjust(saved.clock);
          logger.log(
            'info',
            `${path}: ${revoked.size} revoked ids restored${skipped ? `, ${skipped} malformed skipped` : ''}`,
          );
        }
        // Written once now, as Celery opens its shelve at start: a path that cannot be written stops the
        // worker here rather than losing the revokes at shutdown.
        const now = { clock: scope.clock.value, revoked: revoked.toWire() };
        await saveWorkerState(path, now).catch((err: Error) => {
          throw new ConfigError(`cannot write the worker state file ${path}: ${err.message}`);
        });
      }

      let timer: unknown = null;
      let writing: Promise<void> = Promise.resolve();
      const save = (): Promise<void> => {
        if (!path) return writing;
        if (timer !== null) clock.clearTimeout(timer);
        timer = null;
        writing = writing
          .then(() => saveWorkerState(path, { clock: scope.clock.forward(), revoked: revoked.toWire() }))
          .catch((err: Error) =>
            logger.log('error', `could not save the worker state to ${path}: ${err.message}`),
          );
        return writing;
      };
      const changed = (): void => {
        if (path && timer === null) timer = clock.setTimeout(() => void save(), SAVE_DELAY_MS);
      };

      const check = (run: TaskRun): Outcome | null => {
        const req = run.request;
        if (req.expires !== null && req.expires.getTime() <= clock.now()) return EXPIRED;
        if (revoked.has(req.id)) return REVOKED;
        return null;
      };

      const revokeTasks = (input: unknown, terminate: boolean, signal?: unknown): { ok: string } => {
        const ids = taskIds(input);
        // Parsed before anything is revoked: a bad signal changes nothing.
        const sig = terminate ? parseSignal(signal) : null;
        for (const id of ids) revoked.add(id);
        if (ids.length) changed();
        if (sig) {
          const found = scope.terminate(new Set(ids), sig);
          for (const id of found) logger.log('info', `Terminating ${id} (${sig.num})`);
          return { ok: found.length ? `terminate: ${found.join(', ')}` : 'terminate: tasks unknown' };
        }
        const idstr = ids.join(', ');
        logger.log('info', `Tasks flagged as revoked: ${idstr}`);
        return { ok: `tasks ${idstr} flagged as revoked` };
      };

      const merge = (input: unknown): void => {
        const { added, skipped } = revoked.merge(input);
        if (skipped) logger.log('warn', `ignored ${skipped} malformed revoked ids from a peer`);
        if (added) changed();
      };

      const control: Record<string, ControlHandler> = {
        revoke: (a) => revokeTasks(a.task_id, truthy(a.terminate), a.signal),
        terminate: (a) => revokeTasks(a.task_id, true, a.signal),
        revoked: () => revoked.ids(),
        // Celery's alias of `revoked` (inspect_command alias='dump_revoked').
        dump_revoked: () => revoked.ids(),
        hello: (a) => {
          // A worker's own hello comes back to it: no reply (Celery returns None).
          if (a.from_node === hostname) return null;
          logger.log('info', `sync with ${String(a.from_node)}`);
          if (a.revoked) merge(a.revoked);
          return { revoked: revoked.toWire(), clock: scope.clock.forward() };
        },
      };

      return {
        received: check,
        beforeStart: check,
        revoke: (id) => {
          revoked.add(id);
          changed();
        },
        isRevoked: (id) => revoked.has(id),
        snapshot: () => revoked.toWire(),
        merge,
        revokeTasks,
        save,
        control,
        async stop() {
          await save(); // Celery saves at exit too (atexit)
        },
        stats: () => (revoked.size ? { revoked: revoked.size } : {}),
      };
    },
  };
}
