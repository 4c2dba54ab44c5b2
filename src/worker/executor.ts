/**
 * Runs one task and turns whatever happened into a serializable Outcome. Every pool runs tasks through
 * this function (in-process for async/solo, inside the child for prefork/threads), so results, retries,
 * rejects and errors behave the same whichever pool ran the task. It decides *what* happened; the worker
 * decides what to store and whether to ack.
 */

import type { Settings } from '../app/config.js';
import { Ignore, MaxRetriesExceededError, NotRegistered, Reject, Retry } from '../errors.js';
import type { TaskRequest } from '../protocol/message.js';
import { type ExcInfo, errorTraceback, serializeError } from '../protocol/result.js';
import { bindArguments } from '../task/arguments.js';
import { type RetryOptions, type TaskContext, taskStorage } from '../task/context.js';
import type { ErrorClass } from '../task/options.js';
import { backoffDelay } from '../task/retry.js';
import type { AnyTask } from '../task/task.js';
import type { LazyAbort } from '../util/lazy-abort.js';

export type Outcome =
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
      eta: number;
      exc: ExcInfo | null;
      traceback: string | null;
      runtime: number;
      reason: string;
    }
  | { kind: 'reject'; requeue: boolean; reason: string; runtime: number }
  | { kind: 'ignore'; runtime: number };

/** Where `currentTask().updateState()` goes: the worker's Job (in-process) or an IPC call (child). */
export interface StateSink {
  updateState(state: string, meta: unknown): Promise<void>;
}

export interface ExecEnv {
  hostname: string;
  /** The task's abort handle; its signal is created only if the task reads it. */
  abort: LazyAbort;
  state: StateSink;
}

export interface TaskRegistry {
  readonly tasks: ReadonlyMap<string, AnyTask>;
  readonly conf: Pick<Settings, 'taskMaxRetries' | 'taskDefaultRetryDelay'>;
}

export function failure(err: unknown, runtime: number, reason?: 'timeout' | 'worker-lost'): Outcome {
  const o: Outcome = { kind: 'failure', exc: serializeError(err), traceback: errorTraceback(err), runtime };
  if (reason) o.reason = reason;
  return o;
}

function matches(err: unknown, list: ReadonlyArray<ErrorClass | string> | undefined): boolean {
  if (!list || !(err instanceof Error)) return false;
  return list.some((e) =>
    typeof e === 'string' ? err.name === e || err.constructor.name === e : err instanceof e,
  );
}

function retryOutcome(
  task: AnyTask,
  req: TaskRequest,
  r: Retry,
  reg: TaskRegistry,
  started: number,
): Outcome {
  const runtime = (performance.now() - started) / 1000;
  const max =
    r.maxRetries !== undefined
      ? r.maxRetries
      : task.options.maxRetries !== undefined
        ? task.options.maxRetries
        : reg.conf.taskMaxRetries;
  if (max !== null && req.retries >= max) {
    // Out of retries: fail with the error that caused the retry, as Celery re-raises `exc`.
    return failure(r.exc ?? new MaxRetriesExceededError(req.name, req.id, max), runtime);
  }
  const countdown = r.countdown ?? task.options.defaultRetryDelay ?? reg.conf.taskDefaultRetryDelay;
  const eta = r.eta ? r.eta.getTime() : Date.now() + countdown * 1000;
  return {
    kind: 'retry',
    eta,
    exc: r.exc === undefined ? null : serializeError(r.exc),
    traceback: r.exc === undefined ? null : errorTraceback(r.exc),
    runtime,
    reason: r.exc instanceof Error ? r.exc.message : r.message,
  };
}

/**
 * The context `currentTask()` returns. A class rather than an object literal: its methods live on the
 * prototype, so a task costs one small object here instead of an object and three closures (this runs
 * for every task, thousands a second).
 */
class ExecContext implements TaskContext {
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
  readonly #env: ExecEnv;

  constructor(req: TaskRequest, env: ExecEnv) {
    this.id = req.id;
    this.name = req.name;
    this.retries = req.retries;
    this.args = req.args;
    this.kwargs = req.kwargs;
    this.eta = req.eta;
    this.parentId = req.parentId;
    this.rootId = req.rootId;
    this.groupId = req.group;
    this.hostname = env.hostname;
    this.#env = env;
  }

  get signal(): AbortSignal {
    return this.#env.abort.signal;
  }

  retry(o: RetryOptions = {}): Retry {
    return new Retry({
      countdown: o.countdown ?? null,
      eta: o.eta ?? null,
      exc: o.exc,
      maxRetries: o.maxRetries,
    });
  }

  updateState(state: string, meta?: unknown): Promise<void> {
    return this.#env.state.updateState(state, meta);
  }
}

export async function executeTask(reg: TaskRegistry, req: TaskRequest, env: ExecEnv): Promise<Outcome> {
  const started = performance.now();
  const task = reg.tasks.get(req.name);
  if (!task) return failure(new NotRegistered(req.name), 0);
  const ctx = new ExecContext(req, env);
  try {
    const args = bindArguments(req.name, task.fn, task.options.params, req.args, req.kwargs);
    const value = await taskStorage.run(ctx, task.fn, ...args);
    return {
      kind: 'success',
      value: value === undefined ? null : value,
      runtime: (performance.now() - started) / 1000,
    };
  } catch (err) {
    const runtime = (performance.now() - started) / 1000;
    if (err instanceof Retry) return retryOutcome(task, req, err, reg, started);
    if (err instanceof Reject) return { kind: 'reject', requeue: err.requeue, reason: err.message, runtime };
    if (err instanceof Ignore) return { kind: 'ignore', runtime };
    if (matches(err, task.options.autoretryFor)) {
      const o = task.options;
      const factor = o.retryBackoff === true ? 1 : typeof o.retryBackoff === 'number' ? o.retryBackoff : 0;
      const countdown = factor
        ? backoffDelay(req.retries, factor, o.retryBackoffMax ?? 600, o.retryJitter ?? true)
        : (o.defaultRetryDelay ?? reg.conf.taskDefaultRetryDelay);
      return retryOutcome(task, req, new Retry({ countdown, exc: err }), reg, started);
    }
    const f = failure(err, runtime);
    if (f.kind === 'failure' && matches(err, task.options.throws)) f.expected = true;
    return f;
  }
}
