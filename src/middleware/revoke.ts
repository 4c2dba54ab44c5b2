/**
 * Expiry and revoke: a task past its `expires`, or whose id was revoked, does not run. It is settled as
 * a 'revoked' outcome instead (REVOKED stored, message acked, task_revoked sent), both when it arrives
 * and again when a pool slot is free for it (it may have expired or been revoked while it waited for
 * its ETA, a rate-limit token or a slot). The revoked ids are the worker's (Celery keeps them per worker
 * too); `revoke(id)` adds one, as remote control will.
 * Remote control (minimal, until branch `revoke` adds terminate and the state db): `revoke` and
 * `terminate` flag ids (terminate does not stop a running task yet), `revoked` lists them, and mingle's
 * `hello` answers other workers with `{revoked, clock}` after merging theirs (null to itself, as Celery).
 */
import type { Outcome } from '../task/outcome.js';
import type { Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

const EXPIRED: Outcome = Object.freeze({ kind: 'revoked', expired: true, runtime: 0 });
const REVOKED: Outcome = Object.freeze({ kind: 'revoked', expired: false, runtime: 0 });

export interface RevokeHooks extends WorkerMiddleware {
  revoke(id: string): void;
  isRevoked(id: string): boolean;
  /** The revoked ids with when they were revoked (epoch seconds), as mingle's `hello` exchanges them. */
  snapshot(): Record<string, number>;
  /** Add the revoked ids another worker reported (mingle: each `hello` reply's `revoked`). */
  merge(revoked: Readonly<Record<string, number>>): void;
}

/** `{id: ts}` or Celery's LimitedSet data `{id: [ts, id]}` → `{id: ts}`. */
export function revokedFromWire(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!v || typeof v !== 'object') return out;
  if (Array.isArray(v)) {
    for (const id of v) if (typeof id === 'string') out[id] = Date.now() / 1000;
    return out;
  }
  for (const [id, at] of Object.entries(v)) {
    const ts = Array.isArray(at) ? at[0] : at;
    out[id] = typeof ts === 'number' && Number.isFinite(ts) ? ts : Date.now() / 1000;
  }
  return out;
}

/** For Python peers, whose LimitedSet.update rejects an int timestamp: JSON keeps a whole number whole. */
export function revokedToWire(ids: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, at] of Object.entries(ids)) out[id] = Number.isInteger(at) ? at + 0.001 : at;
  return out;
}

export function revoke(): Middleware {
  return {
    name: 'revoke',
    worker(scope: WorkerScope): RevokeHooks {
      const revoked = new Map<string, number>();
      const check = (run: TaskRun): Outcome | null => {
        const req = run.request;
        if (req.expires !== null && req.expires.getTime() <= Date.now()) return EXPIRED;
        if (revoked.size > 0 && revoked.has(req.id)) return REVOKED;
        return null;
      };
      const flag = (a: Readonly<Record<string, unknown>>, terminate: boolean) => {
        const raw = a.task_id;
        const ids = [
          ...new Set((Array.isArray(raw) ? raw : [raw]).filter((x): x is string => typeof x === 'string')),
        ];
        for (const id of ids) revoked.set(id, Date.now() / 1000);
        scope.logger.log('info', `Tasks flagged as revoked: ${ids.join(', ')}`);
        return terminate
          ? { ok: 'terminate: tasks unknown' }
          : { ok: `tasks ${ids.join(', ')} flagged as revoked` };
      };
      return {
        control: {
          revoke: (a) => flag(a, a.terminate === true),
          terminate: (a) => flag(a, true),
          revoked: () => [...revoked.keys()],
          hello: (a) => {
            if (a.from_node === scope.hostname) return null;
            scope.logger.log('info', `sync with ${String(a.from_node)}`);
            for (const [id, at] of Object.entries(revokedFromWire(a.revoked)))
              if (!revoked.has(id)) revoked.set(id, at);
            return { revoked: revokedToWire(Object.fromEntries(revoked)), clock: scope.clock.forward() };
          },
        },
        received: check,
        beforeStart: check,
        revoke: (id) => void revoked.set(id, Date.now() / 1000),
        isRevoked: (id) => revoked.has(id),
        snapshot: () => Object.fromEntries(revoked),
        merge: (ids) => {
          for (const [id, at] of Object.entries(ids)) if (!revoked.has(id)) revoked.set(id, at);
        },
        stats: () => (revoked.size ? { revoked: revoked.size } : {}),
      };
    },
  };
}
