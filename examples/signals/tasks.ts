/**
 * Signals and middleware on one app: Celery-style signal handlers for the lifecycle, and a small
 * middleware with a task option of its own (`slowAfter`) that warns about tasks slower than it.
 */
import { Celeriac, currentTask, type Middleware } from '../../src/index.js';

// The option's type, for TypeScript (the runtime check is the middleware's `taskOptions`).
declare module '../../src/task/options.js' {
  interface TaskOptions {
    /** Warn when the task runs longer than this many seconds (the slow-tasks middleware). */
    slowAfter?: number;
  }
}

/** A middleware: it owns the `slowAfter` option (seconds) and warns when a task ran longer. */
export function slowTasks(report: (line: string) => void): Middleware {
  return {
    name: 'slow-tasks',
    taskOptions: ['slowAfter'],
    checkTaskOptions(name, options) {
      const v: unknown = options.slowAfter;
      if (v !== undefined && !(typeof v === 'number' && v > 0))
        throw new TypeError(`task "${name}": slowAfter must be a number of seconds > 0`);
    },
    // Per worker: resolved once when the worker starts, not per task.
    worker: (scope) => {
      const limits = new Map<string, number>();
      for (const [name, task] of scope.tasks) {
        const s = task.options.slowAfter;
        if (s) limits.set(name, s);
      }
      return {
        settled(run, outcome) {
          const limit = limits.get(run.task.name);
          if (limit && outcome.runtime > limit)
            report(
              `slow: ${run.task.name}[${run.request.id}] took ${outcome.runtime.toFixed(2)}s (> ${limit}s)`,
            );
        },
      };
    },
  };
}

export function createApp(broker: string, report: (line: string) => void): Celeriac {
  const app = new Celeriac({ broker, backend: broker, middleware: [slowTasks(report)] });

  app.task('demo.add', (x: number, y: number) => x + y);
  app.task(
    'demo.nap',
    async (ms: number) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return currentTask().id;
    },
    { slowAfter: 0.05 },
  );
  app.task('demo.fail', () => {
    throw new Error('something went wrong');
  });

  // Celery's signals, by Celery's names.
  const counts = { success: 0, failure: 0 };
  app.on('worker_ready', ({ sender }) => report(`worker ready: ${sender.hostname}`));
  app.on('task_success', ({ sender, result }) => {
    counts.success++;
    report(`success: ${sender.name} -> ${JSON.stringify(result)}`);
  });
  app.on('task_failure', ({ sender, exception }) => {
    counts.failure++;
    report(`failure: ${sender.name}: ${exception.exc_type}: ${exception.exc_message.join(', ')}`);
  });
  app.on('before_task_publish', ({ headers }) => {
    headers['x-sent-by'] = 'signals-example'; // headers can still be changed here, as in Celery
  });
  app.on('worker_shutdown', () =>
    report(`worker shutdown: ${counts.success} succeeded, ${counts.failure} failed`),
  );
  return app;
}
