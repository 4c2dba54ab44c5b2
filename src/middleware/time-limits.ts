/**
 * Time limits: how long a task may run. Owns `timeLimit` and `softTimeLimit` (with the settings
 * taskTimeLimit/taskSoftTimeLimit, which a worker's --time-limit/--soft-time-limit override). Resolves
 * the limits of each run just before it starts: the message's own `timelimit` header first (a caller's
 * per-call limit, as in Celery), then the task's option, then the worker's setting. The pools enforce
 * them, because only a pool knows how to stop what it runs (abort a signal, kill a child).
 * The remote-control command `time_limit` replaces a task's option limits in this worker at run time
 * (Celery's: soft and hard in seconds, null for none); a message's own header still comes first.
 */
import { ConfigError } from '../errors.js';
import type { AnyTask } from '../task/task.js';
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
      const resolved = perTask(scope.tasks, (t) => ({
        hard: t.options.timeLimit ?? conf.taskTimeLimit,
        soft: t.options.softTimeLimit ?? conf.taskSoftTimeLimit,
      }));
      const set = new Map<string, { hard: number | null; soft: number | null }>();
      const limits = (t: AnyTask) => (set.size ? (set.get(t.name) ?? resolved(t)) : resolved(t));
      const seconds = (v: unknown): number | null => {
        if (v === null || v === undefined) return null;
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0)
          throw new ConfigError(`time limits are seconds >= 0, got ${String(v)}`);
        return n > 0 ? n : null;
      };
      return {
        control: {
          time_limit: (a) => {
            const task = typeof a.task_name === 'string' ? scope.tasks.get(a.task_name) : undefined;
            if (!task) {
              scope.logger.log('error', `Change time limit attempt for unknown task ${String(a.task_name)}`);
              return { error: 'unknown task' };
            }
            const l = { hard: seconds(a.hard), soft: seconds(a.soft) };
            set.set(task.name, l);
            scope.logger.log(
              'info',
              `New time limits for tasks of type ${task.name}: soft=${l.soft ?? 'None'} hard=${l.hard ?? 'None'}`,
            );
            return { ok: 'time limits set successfully' };
          },
        },
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
