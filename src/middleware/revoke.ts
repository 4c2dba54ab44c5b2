/**
 * Expiry and revoke: a task past its `expires`, or whose id was revoked, does not run. It is settled as
 * a 'revoked' outcome instead (REVOKED stored, message acked, task_revoked sent), both when it arrives
 * and again when a pool slot is free for it (it may have expired or been revoked while it waited for
 * its ETA, a rate-limit token or a slot). The revoked ids are the worker's (Celery keeps them per worker
 * too); `revoke(id)` adds one, as remote control will.
 */
import type { Outcome } from '../task/outcome.js';
import type { Middleware, TaskRun, WorkerMiddleware } from './middleware.js';

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

export function revoke(): Middleware {
  return {
    name: 'revoke',
    worker(): RevokeHooks {
      const revoked = new Map<string, number>();
      const check = (run: TaskRun): Outcome | null => {
        const req = run.request;
        if (req.expires !== null && req.expires.getTime() <= Date.now()) return EXPIRED;
        if (revoked.size > 0 && revoked.has(req.id)) return REVOKED;
        return null;
      };
      return {
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
