/**
 * Callbacks: what a finished task sets off. After a success, the next chain step (the last element of
 * `embed.chain`, with the rest as its chain) and every `link` callback, each with the result prepended
 * to its args; after a failure, every `link_error` errback with the task id (Celery's old-style
 * errbacks). Published after the result is stored (a callback may read it) and before the ack, so a
 * crash in between duplicates a callback rather than loses it. Chain steps and callbacks are published
 * through the one signature translation (task/signature.ts), so their countdown, queue and other
 * options hold.
 */
import type { Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

export function callbacks(): Middleware {
  return {
    name: 'callbacks',
    worker(scope: WorkerScope): WorkerMiddleware {
      const afterSuccess = async (run: TaskRun, value: unknown): Promise<void> => {
        const req = run.request;
        const chain = req.embed.chain ? [...req.embed.chain] : [];
        const next = chain.pop();
        if (next)
          await scope.apply(next, [value], {
            parentId: req.id,
            rootId: req.rootId,
            ...(chain.length ? { chain } : {}),
          });
        for (const cb of req.embed.callbacks ?? [])
          await scope.apply(cb, [value], { parentId: req.id, rootId: req.rootId });
      };
      const afterFailure = async (run: TaskRun): Promise<void> => {
        const req = run.request;
        for (const eb of req.embed.errbacks ?? [])
          await scope.apply(eb, [req.id], { parentId: req.id, rootId: req.rootId });
      };
      return {
        settle(run, outcome) {
          const embed = run.request.embed;
          if (outcome.kind === 'success' && (embed.chain || embed.callbacks))
            return afterSuccess(run, outcome.value);
          if (outcome.kind === 'failure' && embed.errbacks && run.disposition?.final !== false)
            return afterFailure(run);
          return null;
        },
      };
    },
  };
}
