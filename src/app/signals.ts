/**
 * Celery's signals, by Celery's names, with Celery's arguments in camelCase: the public face of the
 * task lifecycle (`app.on('task_success', ({ sender, result }) => …)`). The signals middleware
 * (middleware/signals.ts) emits them from the worker's hooks; the app emits the publish signals.
 *
 * Handlers are robust, as Celery's are: one that throws (or rejects) is logged with the signal's name and
 * the task id, and changes neither the task's outcome nor the worker. Handlers run synchronously in the
 * order they were added; an async handler is not awaited.
 *
 * Where each is sent: task_prerun and task_postrun in the process that runs the task (a pool child for
 * prefork/threads, as in Celery); worker_process_init in each pool child; every other task and worker
 * signal in the worker process; the publish signals in the publishing process.
 */

import type { TaskRequest, WireMessage } from '../protocol/message.js';
import type { ExcInfo } from '../protocol/result.js';
import type { AnyTask } from '../task/task.js';
import type { Logger } from '../util/log.js';

/** The `sender` of worker signals. */
export interface SignalWorker {
  readonly hostname: string;
  stats(): Record<string, unknown>;
}

interface TaskSignal {
  /** The task definition (Celery sends the task object). */
  sender: AnyTask;
  request: TaskRequest;
}

export interface SignalMap {
  /** A task message was decoded and its task is known (before any ETA wait). */
  task_received: TaskSignal;
  task_prerun: {
    sender: AnyTask;
    taskId: string;
    task: AnyTask;
    args: unknown[];
    kwargs: Record<string, unknown>;
  };
  task_postrun: {
    sender: AnyTask;
    taskId: string;
    task: AnyTask;
    args: unknown[];
    kwargs: Record<string, unknown>;
    retval: unknown;
    state: string;
  };
  task_success: TaskSignal & { result: unknown };
  task_failure: TaskSignal & {
    taskId: string;
    exception: ExcInfo;
    args: unknown[];
    kwargs: Record<string, unknown>;
    traceback: string | null;
  };
  task_retry: TaskSignal & { reason: string; exception: ExcInfo | null };
  /**
   * `terminated`: stopped while it ran (revoke with terminate); `signum`: then the number of the signal
   * asked for (Celery sends the number too), else null; `expired`: past its `expires`.
   */
  task_revoked: TaskSignal & { terminated: boolean; signum: number | null; expired: boolean };
  /** A message that could not be decoded (or was too large): Celery's "unknown message type". */
  task_rejected: { sender: null; message: WireMessage; exc: Error };
  /** A task message for a task this worker does not know. */
  task_unknown: { sender: null; message: WireMessage; exc: Error; name: string; id: string };
  before_task_publish: {
    /** The task name. */
    sender: string;
    body: [args: unknown[], kwargs: Record<string, unknown>];
    exchange: string;
    routingKey: string;
    headers: Record<string, unknown>;
    properties: Record<string, unknown>;
  };
  after_task_publish: {
    sender: string;
    body: [args: unknown[], kwargs: Record<string, unknown>];
    exchange: string;
    routingKey: string;
    headers: Record<string, unknown>;
  };
  worker_init: { sender: SignalWorker };
  worker_ready: { sender: SignalWorker };
  worker_shutdown: { sender: SignalWorker };
  /** In each prefork/threads child, once the app is loaded. */
  worker_process_init: { sender: null; pid: number };
}

export type SignalName = keyof SignalMap;
export type SignalHandler<K extends SignalName> = (args: SignalMap[K]) => unknown;

export const SIGNAL_NAMES: readonly SignalName[] = [
  'task_received',
  'task_prerun',
  'task_postrun',
  'task_success',
  'task_failure',
  'task_retry',
  'task_revoked',
  'task_rejected',
  'task_unknown',
  'before_task_publish',
  'after_task_publish',
  'worker_init',
  'worker_ready',
  'worker_shutdown',
  'worker_process_init',
];

export class Signals {
  readonly #handlers = new Map<SignalName, Array<(args: never) => unknown>>();

  /** Add a handler; returns a function that removes it. */
  on<K extends SignalName>(name: K, handler: SignalHandler<K>): () => void {
    const list = this.#handlers.get(name);
    // Copy on write: a handler added while a signal is being sent does not see that send.
    this.#handlers.set(name, list ? [...list, handler] : [handler]);
    return () => {
      const now = this.#handlers.get(name) ?? [];
      const next = now.filter((h) => h !== handler);
      if (next.length) this.#handlers.set(name, next);
      else this.#handlers.delete(name);
    };
  }

  /** Whether anyone listens: callers skip building the arguments when nobody does (hot path). */
  has(name: SignalName): boolean {
    return this.#handlers.has(name);
  }

  /** Send a signal. Never throws: a failing handler is logged with the signal name and the task id. */
  emit<K extends SignalName>(name: K, args: SignalMap[K], logger: Logger, taskId?: string | null): void {
    const list = this.#handlers.get(name);
    if (!list) return;
    for (const handler of list as SignalHandler<K>[]) {
      try {
        const r = handler(args);
        if (r instanceof Promise) r.catch((err: unknown) => report(logger, name, taskId, err));
      } catch (err) {
        report(logger, name, taskId, err);
      }
    }
  }
}

function report(logger: Logger, name: string, taskId: string | null | undefined, err: unknown): void {
  const what = err instanceof Error ? (err.stack ?? err.message) : String(err);
  logger.log('error', `Signal ${name} handler raised${taskId ? ` (task ${taskId})` : ''}: ${what}`);
}
