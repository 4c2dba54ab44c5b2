/**
 * The typed messages between a pool (parent) and its children (processes or threads). One union per
 * direction, discriminated by `type`, so both ends switch exhaustively. Carried by structured clone
 * (`serialization: 'advanced'` for processes, postMessage for threads): Dates in the request survive.
 *
 * Parent → child: `run` a job, answer an `updateState` (`stateDone`), `shutdown` when idle (the parent
 * never asks a child to stop a job: limits it cannot enforce by signal end with a kill). Child → parent: `ready` once the app is loaded, `outcome` of a job (with the
 * memory figure the parent checks against maxMemoryPerChild), `updateState` of a running job, and `error`
 * when the child cannot serve at all (the app module failed to load).
 */
import type { TaskRequest } from '../../protocol/message.js';
import type { Outcome } from '../../task/outcome.js';

/** What a child needs to boot; given on the command line (processes) or as workerData (threads). */
export interface ChildInit {
  /** Module exporting the app (file URL, path or package name). */
  appModule: string;
  hostname: string;
  /** Report memory with every outcome (only when maxMemoryPerChild is set: the reading costs a syscall). */
  measureMemory: boolean;
}

export type ToChild =
  | { type: 'run'; seq: number; request: TaskRequest; softLimit: number | null }
  | { type: 'stateDone'; call: number; error: string | null }
  | { type: 'shutdown' };

export type FromChild =
  /** `id`: the process id, or the thread id for threads. */
  | { type: 'ready'; id: number }
  | {
      type: 'outcome';
      seq: number;
      outcome: Outcome;
      /**
       * KiB. Processes: peak resident set size (`process.resourceUsage().maxRSS`, as Celery's check).
       * Threads: the thread's V8 heap plus external memory after the task (RSS is shared by all threads).
       */
      memory: number;
    }
  | { type: 'updateState'; seq: number; call: number; state: string; meta: unknown }
  | { type: 'error'; message: string; stack: string | null };

/** Set in every child's environment, so an app module can tell it is loaded by a pool child. */
export const CHILD_ENV = 'CELERIAC_POOL_CHILD';
