/**
 * Blocking detection: warn when the event loop stalls longer than workerBlockingThreshold milliseconds
 * (a worker's blockingThreshold option overrides it; 0 turns it off), naming the tasks that were on the
 * loop. Only tasks of pools that run on this process's loop (async, solo) are watched; a prefork child
 * blocks only itself. The monitor itself (loop-monitor.ts) is one timer for the whole worker; this
 * middleware tells it when each task starts, reaches its first await, and ends.
 */
import { type LoopActivity, LoopMonitor } from './loop-monitor.js';
import type { Middleware, WorkerMiddleware, WorkerScope } from './middleware.js';

export function blocking(): Middleware {
  return {
    name: 'blocking',
    worker(scope: WorkerScope): WorkerMiddleware | undefined {
      const threshold = scope.conf.workerBlockingThreshold;
      if (!(threshold > 0)) return undefined;
      const monitor = new LoopMonitor({ thresholdMs: threshold, logger: scope.logger });
      return {
        ready: () => monitor.start(),
        stop: () => monitor.stop(),
        started(run) {
          if (run.onLoop) run.loopActivity = monitor.begin(run.request.name, run.request.id);
        },
        launched(run) {
          // On the loop, pool.run() returns at the task's first await: that much ran synchronously.
          if (run.loopActivity) monitor.ran(run.loopActivity as LoopActivity);
        },
        finished(run) {
          if (run.loopActivity) monitor.end(run.loopActivity as LoopActivity);
        },
        stats: () => ({ blocking: monitor.stats() }),
      };
    },
  };
}
