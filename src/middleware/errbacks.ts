/**
 * Errbacks: what a task that failed for good sets off, after its FAILURE is stored (Celery's
 * `Backend.mark_as_failure`), so an errback that reads the failed result finds it:
 *  - every remaining chain step with a task id is stored as FAILURE with the same error, so a client
 *    waiting on the chain's last step gets the failure instead of waiting forever (a step that is a
 *    chord header part also counts as a finished part of its chord);
 *  - the `link_error` errbacks, new style (called in this worker with `(request, exc, traceback)`) or
 *    old style (sent with the failed task's id), as worker/workflow.ts describes.
 * Malformed errbacks are logged and skipped: the failure they were for is already stored.
 */
import { signatureProblem } from '../protocol/canvas.js';
import type { TaskRequest } from '../protocol/message.js';
import { buildMeta, type ExcInfo } from '../protocol/result.js';
import type { CanvasTarget } from '../worker/canvas.js';
import { callErrbacks, type ErrbackEnv, errbackRequest, finishChordPart } from '../worker/workflow.js';
import type { Middleware, WorkerMiddleware, WorkerScope } from './middleware.js';

/** The worker's CanvasTarget: its publishing (with its origin), routing and backend. */
export function canvasTarget(scope: WorkerScope): CanvasTarget {
  return {
    send: scope.send,
    route: scope.route,
    backend: scope.backend,
    resultExpires: scope.conf.resultExpires,
  };
}

/** What the workflow helpers need of a worker. */
export function workflowEnv(scope: WorkerScope): ErrbackEnv {
  return { tasks: scope.tasks, target: canvasTarget(scope), logger: scope.logger, hostname: scope.hostname };
}

export function errbacks(): Middleware {
  return {
    name: 'errbacks',
    worker(scope: WorkerScope): WorkerMiddleware {
      const env = workflowEnv(scope);
      const { backend } = scope;
      const storeOptions = { expires: scope.conf.resultExpires };

      /** Celery stores the failure under every later chain step, so the chain's result fails too. */
      const failChain = async (req: TaskRequest, exc: ExcInfo, traceback: string | null) => {
        if (!backend) return;
        for (const step of req.embed.chain ?? []) {
          if (signatureProblem(step, 'chain step')) continue;
          const o = step.options ?? {};
          const id = typeof o.task_id === 'string' ? o.task_id : null;
          const group = typeof o.group_id === 'string' ? o.group_id : null;
          if (!id) continue;
          const meta = buildMeta(id, 'FAILURE', exc, traceback, new Date(), { groupId: group });
          await backend.store(meta, storeOptions);
          if (o.chord && group) {
            const index = typeof o.group_index === 'number' ? o.group_index : null;
            await finishChordPart(env, backend, {
              groupId: group,
              index,
              meta,
              body: o.chord,
              rootId: req.rootId,
            });
          }
        }
      };

      return {
        settle(run, outcome) {
          if (outcome.kind !== 'failure' || run.disposition?.final === false) return null;
          const req = run.request;
          if (!req.embed.chain && !req.embed.errbacks) return null;
          return (async () => {
            await failChain(req, outcome.exc, outcome.traceback);
            if (req.embed.errbacks)
              await callErrbacks(
                env,
                errbackRequest(req, scope.hostname),
                req.embed.errbacks,
                outcome.exc,
                outcome.traceback,
              ).catch((e: Error) =>
                scope.logger.log(
                  'error',
                  `errback of ${req.name}[${req.id}] raised: ${e.stack ?? e.message}`,
                ),
              );
          })();
        },
      };
    },
  };
}
