/**
 * What happened to one task, in a form that crosses process boundaries (structured-clone and JSON safe):
 * the executor produces it wherever the task ran (in-process or in a pool child), middleware turn it into
 * results, retries and callbacks, and the consumer turns it into an ack or a requeue.
 */
import { type ExcInfo, errorTraceback, serializeError } from '../protocol/result.js';

export type Outcome = OutcomeOf & {
  /**
   * Result tuples of what the task published while it ran (Celery's `request.children`): they go into
   * its stored meta, before those of the callbacks the worker sends after it.
   */
  children?: unknown[];
};

type OutcomeOf =
  | { kind: 'success'; value: unknown; runtime: number }
  | {
      kind: 'failure';
      exc: ExcInfo;
      traceback: string | null;
      runtime: number;
      reason?: 'timeout' | 'worker-lost';
      /** The error is listed in the task's `throws`: an expected failure, logged without a traceback. */
      expected?: boolean;
    }
  | {
      kind: 'retry';
      /** Epoch milliseconds at which the retry may run. */
      eta: number;
      exc: ExcInfo | null;
      traceback: string | null;
      runtime: number;
      reason: string;
    }
  | { kind: 'reject'; requeue: boolean; reason: string; runtime: number }
  | {
      kind: 'ignore';
      runtime: number;
      /** `currentTask().replace(sig)`: the signature to publish in the task's place (Celery's Task.replace). */
      replacement?: Record<string, unknown>;
    }
  /**
   * Revoked by id, or past its `expires` (a middleware decided before or at start), or terminated while
   * it ran (remote control `revoke --terminate`: `terminated` true, `signum` the number of the signal
   * asked for; only prefork sends it to a process, the other pools stop the task their own way, see
   * Pool.terminate). Celery's task-revoked event and task_revoked signal carry the same three fields.
   */
  | { kind: 'revoked'; expired: boolean; runtime: number; terminated?: boolean; signum?: number | null };

export type OutcomeKind = Outcome['kind'];

/** The reason Celery stores as the TaskRevokedError of a REVOKED result (`mark_as_revoked(reason)`). */
export function revokedReason(o: { expired: boolean; terminated?: boolean }): string {
  return o.terminated ? 'terminated' : o.expired ? 'expired' : 'revoked';
}

export function failure(err: unknown, runtime: number, reason?: 'timeout' | 'worker-lost'): Outcome {
  const o: Outcome = { kind: 'failure', exc: serializeError(err), traceback: errorTraceback(err), runtime };
  if (reason) o.reason = reason;
  return o;
}
