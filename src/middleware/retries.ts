/**
 * Retries: a task that throws `currentTask().retry(...)`, or an error listed in `autoretryFor`, runs
 * again later as a new message with `retries + 1`, until `maxRetries`; then it fails with the error
 * that caused the retry (as Celery re-raises `exc`). Owns `maxRetries`, `defaultRetryDelay`,
 * `autoretryFor`, `retryBackoff`, `retryBackoffMax` and `retryJitter` (with taskMaxRetries and
 * taskDefaultRetryDelay).
 *
 * Two halves: `taskError` runs where the task ran (it needs the thrown error itself, which does not
 * cross to the worker from a pool child) and turns it into a retry outcome; `settle` runs in the worker
 * and publishes the retry, before the RETRY state is stored and before the original is acked, so a crash
 * in between duplicates the task rather than loses it.
 */
import { ConfigError, MaxRetriesExceededError, Retry } from '../errors.js';
import { resultTuple } from '../protocol/canvas.js';
import type { TaskRequest } from '../protocol/message.js';
import { errorTraceback, serializeError } from '../protocol/result.js';
import { errorMatches } from '../task/options.js';
import { failure, type Outcome } from '../task/outcome.js';
import { backoffDelay } from '../task/retry.js';
import { sendOptionsFromSignature, signatureFromRequest } from '../task/signature.js';
import type { AnyTask } from '../task/task.js';
import type { ExecRun, Middleware, WorkerMiddleware, WorkerScope } from './middleware.js';

function retryOutcome(run: ExecRun, r: Retry): Outcome {
  const { task, request: req, conf } = run;
  const runtime = (performance.now() - run.startedAt) / 1000;
  const max =
    r.maxRetries !== undefined
      ? r.maxRetries
      : task.options.maxRetries !== undefined
        ? task.options.maxRetries
        : conf.taskMaxRetries;
  if (max !== null && req.retries >= max) {
    // Out of retries: fail with the error that caused the retry, as Celery re-raises `exc`.
    return failure(r.exc ?? new MaxRetriesExceededError(req.name, req.id, max), runtime);
  }
  const countdown = r.countdown ?? task.options.defaultRetryDelay ?? conf.taskDefaultRetryDelay;
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

/** The automatic retry's countdown: exponential backoff with jitter when asked, else the retry delay. */
function autoretryCountdown(task: AnyTask, req: TaskRequest, defaultDelay: number): number {
  const o = task.options;
  const factor = o.retryBackoff === true ? 1 : typeof o.retryBackoff === 'number' ? o.retryBackoff : 0;
  return factor
    ? backoffDelay(req.retries, factor, o.retryBackoffMax ?? 600, o.retryJitter ?? true)
    : (o.defaultRetryDelay ?? defaultDelay);
}

export function retries(): Middleware {
  return {
    name: 'retries',
    taskOptions: [
      'maxRetries',
      'defaultRetryDelay',
      'autoretryFor',
      'retryBackoff',
      'retryBackoffMax',
      'retryJitter',
    ],
    checkTaskOptions(name, o) {
      const nonNegative = (key: string, v: unknown) => {
        if (v !== undefined && v !== null && !(typeof v === 'number' && v >= 0))
          throw new ConfigError(`task "${name}": ${key} must be a number >= 0, got ${String(v)}`);
      };
      nonNegative('maxRetries', o.maxRetries);
      nonNegative('defaultRetryDelay', o.defaultRetryDelay);
      nonNegative('retryBackoffMax', o.retryBackoffMax);
    },
    taskError(run: ExecRun, err: unknown): Outcome | null {
      if (err instanceof Retry) return retryOutcome(run, err);
      if (!errorMatches(err, run.task.options.autoretryFor)) return null;
      const countdown = autoretryCountdown(run.task, run.request, run.conf.taskDefaultRetryDelay);
      return retryOutcome(run, new Retry({ countdown, exc: err }));
    },
    worker(scope: WorkerScope): WorkerMiddleware {
      return {
        settle(run, outcome): Promise<void> | null {
          if (outcome.kind !== 'retry') return null;
          const req = run.request;
          // Celery's Task.retry: the request as a signature, applied again to the queue it came from.
          const sig = signatureFromRequest(req);
          const options = {
            ...sendOptionsFromSignature(sig),
            eta: new Date(outcome.eta),
            retries: req.retries + 1,
            queue: run.delivery.queue,
          };
          return scope.send(req.name, [...req.args], options).then((id) => {
            // Celery lists the re-sent message among the children of the RETRY state (its own id).
            run.children ??= [];
            run.children.push(resultTuple(id));
          });
        },
      };
    },
  };
}
