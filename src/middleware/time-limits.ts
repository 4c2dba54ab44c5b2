/**
 * Time limits: how long a task may run. Owns `timeLimit` and `softTimeLimit` (with the settings
 * taskTimeLimit/taskSoftTimeLimit, which a worker's --time-limit/--soft-time-limit override). Resolves
 * the limits of each run just before it starts: the message's own `timelimit` header first (a caller's
 * per-call limit, as in Celery), then the task's option, then the worker's setting. The pools enforce
 * them, because only a pool knows how to stop what it runs (abort a signal, kill a child).
 */
import { ConfigError } from '../errors.js';
import type { Middleware, WorkerMiddleware, WorkerScope } from './middleware.js';
import { perTask } from './per-task.js';

export function timeLimits(): Middleware {
  return {
    name: 'time-limits',
    taskOptions: ['timeLimit', 'softTimeLimit'],
    checkTaskOptions(name, o) {
      for (const key of ['timeLimit', 'softTimeLimit'] as const) {
        const v = o[key];
        if (v !== undefined && v !== null && !(typeof v === 'number' && v > 0))
          throw new ConfigError(
            `task "${name}": ${key} must be a number of seconds > 0 or null, got ${String(v)}`,
          );
      }
    },
    worker(scope: WorkerScope): WorkerMiddleware {
      const { conf } = scope;
      const limits = perTask(scope.tasks, (t) => ({
        hard: t.options.timeLimit ?? conf.taskTimeLimit,
        soft: t.options.softTimeLimit ?? conf.taskSoftTimeLimit,
      }));
      return {
        beforeStart(run) {
          const l = limits(run.task);
          const header = run.request.timeLimit; // [hard, soft]; indexed, not destructured (per task)
          run.hardLimit = header[0] ?? l.hard;
          run.softLimit = header[1] ?? l.soft;
          return null;
        },
      };
    },
  };
}
