/**
 * The per-execution context behind `currentTask()`, carried by AsyncLocalStorage so that it follows the
 * task through every await, and concurrent tasks on one event loop never see each other's context.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CeleriacError, type Retry } from '../errors.js';
import type { ResultTuple } from '../protocol/canvas.js';
import type { SignatureJson } from '../protocol/message.js';

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
  /**
   * Celery's `Task.replace`: end this task and run `sig` in its place. The replacement takes this task's
   * id (so results already handed out resolve to the replacement's result), its group, group index and
   * chord, and this task's link callbacks, errbacks and remaining chain steps, so the workflow goes on.
   * This task stores no state of its own (as Celery's Ignore). Throws, so nothing after it runs: write
   * `return currentTask().replace(sig)`. A group is turned into a chord with `celery.accumulate` as its
   * body (so callbacks get the list of results); a chord cannot replace a task.
   */
  replace(sig: SignatureJson | { toJSON(): SignatureJson }): never;
}

/** What the executor's context holds beyond the public interface: the trail of sent subtasks. */
export interface TrailingContext extends TaskContext {
  /** Celery's `request.children`: result tuples of what this task published, in order; null until one. */
  children: ResultTuple[] | null;
}

export const taskStorage = new AsyncLocalStorage<TaskContext>();

/**
 * Record a published task or group in the children of the task running now (Celery's `add_trail`); a
 * no-op outside a task. The app calls it for every publish unless `addToParent: false`; canvas records
 * a group once, as its GroupResult tuple, rather than each member.
 */
export function recordChild(tuple: ResultTuple): void {
  const ctx = taskStorage.getStore() as Partial<TrailingContext> | undefined;
  // The list is made on first use: most tasks publish nothing.
  if (!ctx || !('children' in ctx)) return;
  ctx.children ??= [];
  ctx.children.push(tuple);
}

/** `recordChild` of one published task by id; outside a task (a client) it builds nothing. */
export function recordChildId(id: string): void {
  const ctx = taskStorage.getStore() as Partial<TrailingContext> | undefined;
  if (!ctx || !('children' in ctx)) return;
  ctx.children ??= [];
  ctx.children.push([[id, null], null]);
}

/** The context of the task running now. Throws outside a task. */
export function currentTask(): TaskContext {
  const ctx = taskStorage.getStore();
  if (!ctx) throw new CeleriacError('E_NO_TASK', 'currentTask() was called outside a running task');
  return ctx;
}

/** The running task's id and name for log lines (the JSON log format), or undefined outside a task. */
export function currentTaskFields(): { taskId: string; taskName: string } | undefined {
  const ctx = taskStorage.getStore();
  return ctx ? { taskId: ctx.id, taskName: ctx.name } : undefined;
}
