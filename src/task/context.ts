/**
 * The per-execution context behind `currentTask()`, carried by AsyncLocalStorage so that it follows the
 * task through every await, and concurrent tasks on one event loop never see each other's context.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CeleriacError, type Retry } from '../errors.js';

export interface RetryOptions {
  countdown?: number;
  eta?: Date;
  exc?: unknown;
  maxRetries?: number;
}

export interface TaskContext {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly eta: Date | null;
  readonly parentId: string | null;
  readonly rootId: string;
  readonly groupId: string | null;
  readonly hostname: string;
  /** Aborted on the soft time limit (reason: SoftTimeLimitExceeded), the hard limit, revoke or cold shutdown. */
  readonly signal: AbortSignal;
  /** Build the Retry to throw: `throw currentTask().retry({ countdown: 5, exc: err })`. */
  retry(options?: RetryOptions): Retry;
  /** Store a custom state (e.g. PROGRESS) with meta, visible to AsyncResult.state/info. */
  updateState(state: string, meta?: unknown): Promise<void>;
}

export const taskStorage = new AsyncLocalStorage<TaskContext>();

/** The context of the task running now. Throws outside a task. */
export function currentTask(): TaskContext {
  const ctx = taskStorage.getStore();
  if (!ctx) throw new CeleriacError('E_NO_TASK', 'currentTask() was called outside a running task');
  return ctx;
}
