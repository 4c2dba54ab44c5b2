/**
 * Acks: when a message is acked, and what a finished task's message becomes (Celery's rules).
 * Owns `acksLate` and `rejectOnWorkerLost` (with the settings taskAcksLate, taskRejectOnWorkerLost and
 * taskAcksOnFailureOrTimeout). By default a message is acked when its task starts (at most once); with
 * acksLate after it finished (at least once), and then the outcome decides between ack and requeue.
 * The consumer carries the decision out; this file is the one place that says why.
 */
import type { Disposition, Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';
import { perTask } from './per-task.js';

const done = (reason: string): Disposition => Object.freeze({ action: 'ack', reason, final: true });
// Constants, not objects per task: this decision is made for every message.
const FINISHED = done('the task finished');
const ACKED_EARLY = done('acked when it started');
const NOT_RUN = done('it will not run (revoked or expired)');
// Celery acks a terminated task whatever acks_late and reject_on_worker_lost say (Request
// _announce_revoked acknowledges): it was revoked on purpose, running it again would undo the revoke.
const TERMINATED = done('terminated by revoke: acked, as Celery does, whatever acksLate says');
const LOST_FINAL = done('its process died (acksLate without rejectOnWorkerLost: a failure)');
const FAILED_ACK = done('failed or timed out (taskAcksOnFailureOrTimeout)');
const REQUEUE_LOST: Disposition = Object.freeze({
  action: 'requeue',
  reason: 'its process died (acksLate + rejectOnWorkerLost): it runs again, no FAILURE stored',
  final: false,
});
const REQUEUE_TIMEOUT: Disposition = Object.freeze({
  action: 'requeue',
  reason: 'timed out (acksLate, taskAcksOnFailureOrTimeout off): back to the queue',
  final: true,
});
const REJECT_FAILED: Disposition = Object.freeze({
  action: 'reject',
  reason: 'failed (acksLate, taskAcksOnFailureOrTimeout off): rejected, not requeued',
  final: true,
});
const REQUEUE_ASKED: Disposition = Object.freeze({
  action: 'requeue',
  reason: 'the task raised Reject(requeue=true)',
  final: false,
});
const REJECT_ASKED: Disposition = Object.freeze({
  action: 'reject',
  reason: 'the task raised Reject',
  final: true,
});

export function acks(): Middleware {
  return {
    name: 'acks',
    taskOptions: ['acksLate', 'rejectOnWorkerLost'],
    worker(scope: WorkerScope): WorkerMiddleware {
      const { conf, logger } = scope;
      const plan = perTask(scope.tasks, (t) => ({
        late: t.options.acksLate ?? conf.taskAcksLate,
        rejectOnLost: t.options.rejectOnWorkerLost ?? conf.taskRejectOnWorkerLost,
      }));
      const ackFailed = (err: Error): void => logger.log('error', `ack failed: ${err.message}`);
      return {
        started(run: TaskRun): void {
          if (plan(run.task).late) return;
          // Acks early: when the task starts, as Celery does. Not tracked one by one (hot path): the
          // broker flushes pending acks before it closes.
          run.acked = true;
          run.delivery.ack().catch(ackFailed);
        },
        decide(run, outcome): Disposition {
          switch (outcome.kind) {
            case 'success':
            case 'ignore':
            case 'retry': // the retry is published before this ack: a crash in between duplicates, never loses
              return run.acked ? ACKED_EARLY : FINISHED;
            case 'revoked':
              return run.acked ? ACKED_EARLY : outcome.terminated ? TERMINATED : NOT_RUN;
            case 'reject':
              return outcome.requeue ? REQUEUE_ASKED : REJECT_ASKED;
            case 'failure': {
              if (run.acked) return ACKED_EARLY;
              if (outcome.reason === 'worker-lost')
                return plan(run.task).rejectOnLost ? REQUEUE_LOST : LOST_FINAL;
              if (conf.taskAcksOnFailureOrTimeout) return FAILED_ACK;
              return outcome.reason === 'timeout' ? REQUEUE_TIMEOUT : REJECT_FAILED;
            }
          }
        },
      };
    },
  };
}
