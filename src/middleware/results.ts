/**
 * Results: every state a task reaches is stored in the result backend, in Celery's meta layout, so any
 * client (Python included) reads it. Owns `ignoreResult` and `trackStarted` (with taskIgnoreResult,
 * taskTrackStarted, resultExpires and resultExtended). Stores STARTED when asked, custom states from
 * `currentTask().updateState`, SUCCESS/FAILURE/RETRY/REVOKED when the task settles (not when it goes
 * back to the queue to run again), and FAILURE for a message that cannot run but whose id is known
 * (as Celery does for an unregistered task). A state whose value cannot be encoded (a BigInt, a
 * circular structure, a result nested past the stack) is stored as FAILURE with EncodeError, as Celery's
 * tracer does, so the task never stays PENDING for ever.
 */
import { EncodeError, TaskRevokedError } from '../errors.js';
import { buildMeta, type MetaExtras, serializeError } from '../protocol/result.js';
import { type Outcome, revokedReason } from '../task/outcome.js';
import type { Middleware, TaskRun, Unusable, WorkerMiddleware, WorkerScope } from './middleware.js';
import { perTask } from './per-task.js';

const stringProp = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);

export function results(): Middleware {
  return {
    name: 'results',
    taskOptions: ['ignoreResult', 'trackStarted'],
    worker(scope: WorkerScope): WorkerMiddleware | undefined {
      const { backend, conf, hostname, logger } = scope;
      if (!backend) return undefined; // no backend: nothing to store (Celery's DisabledBackend)
      const plan = perTask(scope.tasks, (t) => ({
        ignore: t.options.ignoreResult ?? conf.taskIgnoreResult,
        trackStarted: t.options.trackStarted ?? conf.taskTrackStarted,
      }));
      const storeOptions = Object.freeze({ expires: conf.resultExpires });

      const extras = (run: TaskRun, children?: unknown[]): MetaExtras => {
        const req = run.request;
        const x: MetaExtras = { groupId: req.group, parentId: req.parentId };
        // Celery's request.children: what the task sent while it ran, then what the worker sent for it.
        if (children?.length || run.children?.length)
          x.children = [...(children ?? []), ...(run.children ?? [])];
        if (conf.resultExtended) {
          x.extended = {
            name: req.name,
            args: req.args,
            kwargs: req.kwargs,
            worker: hostname,
            retries: req.retries,
            queue: run.delivery.queue,
          };
        }
        return x;
      };

      /** Store a state of the run; null when its result is ignored. */
      const store = (
        run: TaskRun,
        state: string,
        result: unknown,
        traceback: string | null,
        children?: unknown[],
      ): Promise<void> | null => {
        const req = run.request;
        if (req.ignoreResult || plan(run.task).ignore) return null;
        const at = new Date();
        return backend
          .store(
            buildMeta(req.id, state, result, traceback, at, extras(run, children)),
            storeOptions,
            // The request is the ResultOrigin (replyTo, correlationId): rpc:// answers its client.
            req,
          )
          .catch((err: unknown) => {
            if (!(err instanceof EncodeError)) throw err;
            logger.log(
              'error',
              `Task ${req.name}[${req.id}] ${state} cannot be stored: ${err.message}; storing FAILURE`,
            );
            return backend.store(
              buildMeta(req.id, 'FAILURE', serializeError(err), null, at, extras(run)),
              storeOptions,
              req,
            );
          });
      };

      return {
        started(run, info) {
          if (!plan(run.task).trackStarted) return;
          scope.track(store(run, 'STARTED', { pid: info?.pid ?? process.pid, hostname }, null));
        },
        updateState(run, state, meta) {
          return store(run, state, meta, null);
        },
        settle(run: TaskRun, outcome: Outcome): Promise<void> | null {
          if (run.disposition && !run.disposition.final) return null; // it runs again: not over
          switch (outcome.kind) {
            case 'success':
              return store(run, 'SUCCESS', outcome.value, null, outcome.children);
            case 'failure':
              return store(run, 'FAILURE', outcome.exc, outcome.traceback, outcome.children);
            case 'retry':
              return store(run, 'RETRY', outcome.exc, outcome.traceback, outcome.children);
            case 'revoked':
              return store(
                run,
                'REVOKED',
                serializeError(new TaskRevokedError(revokedReason(outcome))),
                null,
              );
            default:
              return null; // reject, ignore: Celery stores nothing
          }
        },
        unusable(u: Unusable): Promise<void> | null {
          if (!u.id) return null;
          const req = u.request;
          const x: MetaExtras = req ? { groupId: req.group, parentId: req.parentId } : {};
          const props = u.delivery.message.properties;
          return backend
            .store(buildMeta(u.id, 'FAILURE', serializeError(u.error), null, new Date(), x), storeOptions, {
              // rpc:// sends the result to the client's reply queue; the raw property serves when parsing failed.
              replyTo: req?.replyTo ?? stringProp(props.reply_to),
              correlationId: req?.correlationId ?? stringProp(props.correlation_id),
            })
            .catch((e: Error) => logger.log('error', `could not store the failure of ${u.id}: ${e.message}`));
        },
      };
    },
  };
}
