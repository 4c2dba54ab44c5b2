/**
 * Signals: sends Celery's signals (app/signals.ts) from the worker's hooks, so `app.on('task_success',
 * …)` works as `@task_success.connect` does in Celery. Each signal's arguments are built only when some
 * handler listens, so signals nobody uses cost one Map lookup per hook. task_prerun/task_postrun are sent
 * where the task runs (a pool child for prefork/threads, as in Celery); the others in the worker.
 */
import type { Outcome } from '../task/outcome.js';
import type { ExecRun, Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

const STATE: Record<Outcome['kind'], string> = {
  success: 'SUCCESS',
  failure: 'FAILURE',
  retry: 'RETRY',
  reject: 'REJECTED',
  ignore: 'IGNORED',
  revoked: 'REVOKED',
};

export function signals(): Middleware {
  return {
    name: 'signals',
    beforeRun(run: ExecRun) {
      if (!run.signals.has('task_prerun')) return;
      const { request: req, task } = run;
      run.signals.emit(
        'task_prerun',
        { sender: task, taskId: req.id, task, args: req.args, kwargs: req.kwargs },
        run.logger,
        req.id,
      );
    },
    afterRun(run: ExecRun, o: Outcome) {
      if (!run.signals.has('task_postrun')) return;
      const { request: req, task } = run;
      run.signals.emit(
        'task_postrun',
        {
          sender: task,
          taskId: req.id,
          task,
          args: req.args,
          kwargs: req.kwargs,
          retval: o.kind === 'success' ? o.value : o.kind === 'failure' || o.kind === 'retry' ? o.exc : null,
          state: STATE[o.kind],
        },
        run.logger,
        req.id,
      );
    },
    worker(scope: WorkerScope): WorkerMiddleware {
      const { signals: s, logger } = scope;
      const sender = scope.worker;
      s.emit('worker_init', { sender }, logger);
      return {
        ready: () => s.emit('worker_ready', { sender }, logger),
        stop: () => s.emit('worker_shutdown', { sender }, logger),
        unusable(u) {
          const message = u.delivery.message;
          if (u.kind === 'unregistered') {
            if (s.has('task_unknown'))
              s.emit(
                'task_unknown',
                { sender: null, message, exc: u.error, name: u.name ?? '', id: u.id ?? '' },
                logger,
                u.id,
              );
          } else if (s.has('task_rejected')) {
            s.emit('task_rejected', { sender: null, message, exc: u.error }, logger, u.id);
          }
          return null;
        },
        received(run: TaskRun) {
          if (s.has('task_received'))
            s.emit('task_received', { sender: run.task, request: run.request }, logger, run.request.id);
          return null;
        },
        settled(run: TaskRun, o: Outcome) {
          const req = run.request;
          const sender = run.task;
          switch (o.kind) {
            case 'success':
              if (s.has('task_success'))
                s.emit('task_success', { sender, request: req, result: o.value }, logger, req.id);
              return;
            case 'failure':
              if (s.has('task_failure') && run.disposition?.final !== false)
                s.emit(
                  'task_failure',
                  {
                    sender,
                    request: req,
                    taskId: req.id,
                    exception: o.exc,
                    args: req.args,
                    kwargs: req.kwargs,
                    traceback: o.traceback,
                  },
                  logger,
                  req.id,
                );
              return;
            case 'retry':
              if (s.has('task_retry'))
                s.emit(
                  'task_retry',
                  { sender, request: req, reason: o.reason, exception: o.exc },
                  logger,
                  req.id,
                );
              return;
            case 'revoked':
              if (s.has('task_revoked'))
                s.emit(
                  'task_revoked',
                  {
                    sender,
                    request: req,
                    terminated: o.terminated === true,
                    signum: o.signum ?? null,
                    expired: o.expired,
                  },
                  logger,
                  req.id,
                );
              return;
            default:
              return;
          }
        },
      };
    },
  };
}
