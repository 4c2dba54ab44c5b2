/**
 * Logging: the task lifecycle in Celery's log lines (`Task tasks.add[id] received`, `… succeeded in
 * 0.001s: 5`, `… raised unexpected: …`, `… retry: Retry in 5s: …`), so people who read Celery logs read
 * ours. Every line is built only when its level is on: at the default level a successful task costs
 * two `enabled()` checks here. Expected failures (a task's `throws`) log one INFO line, not an ERROR
 * with a traceback.
 */

import type { TaskRequest } from '../protocol/message.js';
import { pyRepr } from '../protocol/repr.js';
import type { ExcInfo } from '../protocol/result.js';
import type { LogFields } from '../util/log.js';
import type { Middleware, WorkerMiddleware, WorkerScope } from './middleware.js';

export function excRepr(exc: ExcInfo): string {
  return `${exc.exc_type}(${exc.exc_message.map((m) => pyRepr(m)).join(', ')})`;
}

/** The JSON format's task fields; built only when a line is logged (not per task). */
function fieldsOf(req: TaskRequest): LogFields {
  return { taskId: req.id, taskName: req.name };
}

export function logging(): Middleware {
  return {
    name: 'logging',
    worker(scope: WorkerScope): WorkerMiddleware {
      const { logger } = scope;
      const info = logger.enabled('info');
      return {
        unusable(u) {
          const what =
            u.kind === 'unregistered'
              ? `Received unregistered task of type '${u.name}' [${u.id}]; moved to the dead-letter queue`
              : u.kind === 'internal'
                ? `could not handle message: ${u.error.stack ?? u.error.message}`
                : `Task ${u.name ?? '?'}[${u.id ?? '?'}] rejected: ${u.kind === 'undecodable' ? 'cannot decode message: ' : ''}${u.error.message}`;
          logger.log('error', what, u.id && u.name ? { taskId: u.id, taskName: u.name } : undefined);
          return null;
        },
        received(run) {
          const req = run.request;
          if (info)
            logger.log('info', `Task ${req.name}[${req.id}] received`, {
              taskId: req.id,
              taskName: req.name,
            });
          return null;
        },
        settle(run, o) {
          const req = run.request;
          const task = `Task ${req.name}[${req.id}]`;
          switch (o.kind) {
            case 'success':
              if (info)
                logger.log(
                  'info',
                  `${task} succeeded in ${o.runtime.toFixed(6)}s: ${pyRepr(o.value).slice(0, 256)}`,
                  fieldsOf(req),
                );
              break;
            case 'failure':
              if (run.disposition?.final === false)
                logger.log(
                  'warn',
                  `${task} lost its process (${excRepr(o.exc)}); requeued (acksLate + rejectOnWorkerLost)`,
                  fieldsOf(req),
                );
              else if (o.expected)
                logger.log('info', `${task} raised expected: ${excRepr(o.exc)}`, fieldsOf(req));
              else
                logger.log(
                  'error',
                  `${task} raised unexpected: ${excRepr(o.exc)}${o.traceback ? `\n${o.traceback}` : ''}`,
                  fieldsOf(req),
                );
              break;
            case 'retry':
              logger.log(
                'info',
                `${task} retry: Retry in ${Math.max(0, Math.round((o.eta - Date.now()) / 1000))}s: ${o.reason}`,
                fieldsOf(req),
              );
              break;
            case 'reject':
              logger.log('warn', `${task} rejected (requeue=${o.requeue}): ${o.reason}`, fieldsOf(req));
              break;
            case 'revoked':
              logger.log(
                'info',
                o.terminated
                  ? `Task ${req.name}[${req.id}] terminated (signal ${o.signum ?? 'none'}): REVOKED`
                  : `Discarding ${o.expired ? 'expired' : 'revoked'} task ${req.name}[${req.id}]`,
                fieldsOf(req),
              );
              break;
            case 'ignore':
              break;
          }
          return null;
        },
      };
    },
  };
}
