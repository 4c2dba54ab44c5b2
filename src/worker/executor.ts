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
import { type TaskContext, taskStorage } from '../task/context.js';
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

export interface ExecEnv {
  hostname: string;
  /** The task's abort handle; its signal is created only if the task reads it. */
  abort: LazyAbort;
  updateState(state: string, meta: unknown): Promise<void>;
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

export async function executeTask(reg: TaskRegistry, req: TaskRequest, env: ExecEnv): Promise<Outcome> {
  const started = performance.now();
  const task = reg.tasks.get(req.name);
  if (!task) return failure(new NotRegistered(req.name), 0);
  const ctx: TaskContext = {
    id: req.id,
    name: req.name,
    retries: req.retries,
    args: req.args,
    kwargs: req.kwargs,
    eta: req.eta,
    parentId: req.parentId,
    rootId: req.rootId,
    groupId: req.group,
    hostname: env.hostname,
    get signal() {
      return env.abort.signal;
    },
    retry: (o = {}) =>
      new Retry({ countdown: o.countdown ?? null, eta: o.eta ?? null, exc: o.exc, maxRetries: o.maxRetries }),
    updateState: (state, meta) => env.updateState(state, meta),
  };
  try {
    const args = bindArguments(req.name, task.fn, task.options.params, req.args, req.kwargs);
    const value = await taskStorage.run(ctx, () => task.fn(...args));
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
