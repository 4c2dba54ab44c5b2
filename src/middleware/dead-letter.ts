/**
 * Dead-lettering: a message the worker cannot run (undecodable, over workerMessageSizeLimit, an unknown
 * task, or one that broke the worker's own code) is copied to `workerDeadLetterQueue` with the reason in
 * the `x-celeriac-dead-reason` header and the queue it came from in `x-celeriac-from-queue`, so nothing
 * is lost silently and someone can look at it, fix it and replay it. The consumer then rejects the
 * original. With workerDeadLetterQueue null the message is only logged and dropped.
 */
import type { Middleware, Unusable, WorkerMiddleware, WorkerScope } from './middleware.js';

export function deadLetter(): Middleware {
  return {
    name: 'dead-letter',
    worker(scope: WorkerScope): WorkerMiddleware | undefined {
      const queue = scope.conf.workerDeadLetterQueue;
      if (!queue) return undefined;
      return {
        async unusable(u: Unusable): Promise<void> {
          const msg = u.delivery.message;
          try {
            await scope.broker.publish(queue, {
              ...msg,
              headers: {
                ...msg.headers,
                'x-celeriac-dead-reason': u.error.message,
                'x-celeriac-from-queue': u.delivery.queue,
              },
            });
          } catch (err) {
            scope.logger.log(
              'error',
              `could not dead-letter a message (${u.error.message}): ${(err as Error).message}; rejecting it`,
            );
          }
        },
      };
    },
  };
}
