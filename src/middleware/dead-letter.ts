/**
 * Dead-lettering: a message the worker cannot run (an envelope the transport could not decode, a body
 * over workerMessageSizeLimit or undecodable, an unknown task, or one that broke the worker's own code)
 * is copied to `workerDeadLetterQueue`, so nothing is lost silently and someone can look at it, fix it and
 * replay it (`celeriac dead-letter`, src/cli/dead-letter.ts). The consumer then rejects the original.
 * With workerDeadLetterQueue null the message is only logged and dropped.
 *
 * The copy keeps the message's body, content type and headers, plus (DEAD_HEADERS):
 *  - `x-celeriac-dead-reason`: why it could not run;
 *  - `x-celeriac-from-queue`: the queue it came from, where `requeue` sends it back;
 *  - `x-celeriac-dead-at`: when (ISO-8601 UTC);
 *  - `x-celeriac-dead-id`: an id of its own, for messages without a task id (and duplicates of one);
 *  - `x-celeriac-undecodable`: true when the body is the raw bytes of an envelope the transport could not
 *    decode (Delivery.undecodable): only a person can repair it, so `requeue` refuses it.
 */
import { randomUUID } from 'node:crypto';
import type { Middleware, Unusable, WorkerMiddleware, WorkerScope } from './middleware.js';

export const DEAD_HEADERS = Object.freeze({
  reason: 'x-celeriac-dead-reason',
  fromQueue: 'x-celeriac-from-queue',
  at: 'x-celeriac-dead-at',
  id: 'x-celeriac-dead-id',
  undecodable: 'x-celeriac-undecodable',
});

export function deadLetter(): Middleware {
  return {
    name: 'dead-letter',
    worker(scope: WorkerScope): WorkerMiddleware | undefined {
      const queue = scope.conf.workerDeadLetterQueue;
      if (!queue) return undefined;
      return {
        async unusable(u: Unusable): Promise<void> {
          const msg = u.delivery.message;
          const headers: Record<string, unknown> = {
            ...msg.headers,
            [DEAD_HEADERS.reason]: u.error.message,
            [DEAD_HEADERS.fromQueue]: u.delivery.queue,
            [DEAD_HEADERS.at]: new Date().toISOString(),
            [DEAD_HEADERS.id]: randomUUID(),
          };
          if (u.delivery.undecodable) headers[DEAD_HEADERS.undecodable] = true;
          try {
            await scope.broker.publish(queue, { ...msg, headers });
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
