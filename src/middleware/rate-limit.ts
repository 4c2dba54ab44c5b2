/**
 * Rate limits: at most `rateLimit` starts of a task per second, minute or hour, per worker (Celery's
 * task rate limit, a token bucket per task name). Owns `rateLimit` (and the workerDisableRateLimits
 * setting) and the remote-control command `rate_limit`, which sets a task's rate in this worker at run
 * time (Celery's reply texts). A run over its rate is held in one timer heap, unacked, until a token is
 * free, then resumed into the pool queue; at shutdown the held runs go back to the broker.
 */
import { ConfigError } from '../errors.js';
import type { AnyTask } from '../task/task.js';
import { TimerHeap } from '../util/timer-heap.js';
import { parseRate, TokenBucket } from '../util/token-bucket.js';
import type { Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

export function rateLimit(): Middleware {
  return {
    name: 'rate-limit',
    taskOptions: ['rateLimit'],
    checkTaskOptions(name, o) {
      if (o.rateLimit === undefined || o.rateLimit === null) return;
      try {
        const r = parseRate(o.rateLimit);
        if (!(r > 0)) throw new ConfigError('must be above 0');
      } catch (err) {
        throw new ConfigError(`task "${name}": rateLimit ${(err as Error).message}`);
      }
    },
    worker(scope: WorkerScope): WorkerMiddleware | undefined {
      if (scope.conf.workerDisableRateLimits)
        return {
          control: {
            rate_limit: () => ({
              error: 'rate limits are disabled on this worker (workerDisableRateLimits)',
            }),
          },
        };
      const buckets = new Map<AnyTask, TokenBucket | null>();
      const bucket = (task: AnyTask): TokenBucket | null => {
        let b = buckets.get(task);
        if (b === undefined) {
          const rate = task.options.rateLimit;
          b = rate ? new TokenBucket(parseRate(rate)) : null;
          buckets.set(task, b);
        }
        return b;
      };
      for (const t of scope.tasks.values()) bucket(t);
      /** True when a token is free now; otherwise the run waits in the heap until one should be. */
      const pass = (run: TaskRun): boolean => {
        const b = bucket(run.task);
        if (!b) return true;
        const ok = b.take();
        if (ok === true) return true;
        waiting.add(ok, run);
        return false;
      };
      // When a held run's time comes it takes its token again: runs held at once each wait their turn.
      const waiting = new TimerHeap<TaskRun>((run) => {
        if (pass(run)) scope.resume(run);
      });
      /** Remote control: a new rate for one task in this worker; 0, '' or null turns its limit off. */
      const setRate = (args: Readonly<Record<string, unknown>>) => {
        const { task_name: name, rate_limit: rate } = args;
        let perSecond = 0;
        try {
          if (rate !== null && rate !== undefined && rate !== '') {
            if (typeof rate !== 'string' && typeof rate !== 'number')
              throw new Error(`not a rate: ${String(rate)}`);
            perSecond = parseRate(rate);
          }
        } catch (err) {
          return { error: `Invalid rate limit string: ${(err as Error).message}` };
        }
        const task = typeof name === 'string' ? scope.tasks.get(name) : undefined;
        if (!task) {
          scope.logger.log('error', `Rate limit attempt for unknown task ${String(name)}`);
          return { error: 'unknown task' };
        }
        buckets.set(task, perSecond > 0 ? new TokenBucket(perSecond) : null);
        if (perSecond > 0) {
          scope.logger.log('info', `New rate limit for tasks of type ${task.name}: ${String(rate)}.`);
          return { ok: 'new rate limit set successfully' };
        }
        scope.logger.log('info', `Rate limits disabled for tasks of type ${task.name}`);
        return { ok: 'rate limit disabled successfully' };
      };
      return {
        admit: pass,
        held: () => waiting.size,
        heldRuns: () => waiting.items(),
        releaseHeld: () => waiting.drain(),
        control: { rate_limit: setRate },
      };
    },
  };
}
