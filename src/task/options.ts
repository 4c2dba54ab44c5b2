/**
 * Options a task definition owns, with Celery's names in camelCase and Celery's units (seconds).
 * Unset options fall back to the app's settings (src/app/config.ts) when the task runs.
 */
export type ErrorClass = abstract new (...args: never[]) => Error;

export interface TaskOptions {
  /** Parameter names, so Python-style kwargs map onto positions. Without it, kwargs arrive as one trailing object. */
  params?: readonly string[];
  /** Queue this task is published to unless the caller or `taskRoutes` says otherwise. */
  queue?: string;
  /** Default message priority 0–9. */
  priority?: number;
  /** Retries allowed (null: unlimited). Falls back to taskMaxRetries. */
  maxRetries?: number | null;
  /** Seconds before a retry without countdown. Falls back to taskDefaultRetryDelay. */
  defaultRetryDelay?: number;
  /** Errors (classes or names) that retry the task automatically. */
  autoretryFor?: ReadonlyArray<ErrorClass | string>;
  /**
   * Expected errors (classes or names): the task still fails with them, but the worker logs one line at
   * INFO instead of an ERROR with a traceback (Celery's `Task.throws`).
   */
  throws?: ReadonlyArray<ErrorClass | string>;
  /** Exponential backoff for automatic retries: true (factor 1 s) or the factor in seconds. */
  retryBackoff?: boolean | number;
  /** Upper bound of the backoff, seconds. @defaultValue 600 */
  retryBackoffMax?: number;
  /** Randomize the backoff ("full jitter"). @defaultValue true */
  retryJitter?: boolean;
  /** '10/s', '100/m', '5/h' or tasks per second; per task per worker. */
  rateLimit?: string | number | null;
  /** Hard time limit, seconds. */
  timeLimit?: number | null;
  /** Soft time limit, seconds. */
  softTimeLimit?: number | null;
  acksLate?: boolean;
  rejectOnWorkerLost?: boolean;
  ignoreResult?: boolean;
  trackStarted?: boolean;
  /** Which pool of a mixed worker runs it: 'default' (the main pool) or 'cpu' (the process/thread pool). */
  pool?: 'default' | 'cpu';
}

export const TASK_OPTION_KEYS: readonly (keyof TaskOptions)[] = [
  'params',
  'queue',
  'priority',
  'maxRetries',
  'defaultRetryDelay',
  'autoretryFor',
  'throws',
  'retryBackoff',
  'retryBackoffMax',
  'retryJitter',
  'rateLimit',
  'timeLimit',
  'softTimeLimit',
  'acksLate',
  'rejectOnWorkerLost',
  'ignoreResult',
  'trackStarted',
  'pool',
];

/** Options of one call (`applyAsync`, `sendTask`). */
export interface SendOptions {
  kwargs?: Record<string, unknown>;
  /** Seconds from now; turned into an absolute `eta` on the wire as Celery does. */
  countdown?: number;
  eta?: Date;
  /** Seconds from now, or a Date. */
  expires?: number | Date;
  queue?: string;
  priority?: number;
  taskId?: string;
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  ignoreResult?: boolean;
  retries?: number;
  parentId?: string | null;
  rootId?: string | null;
  group?: string | null;
  groupIndex?: number | null;
  shadow?: string | null;
  compression?: string | null;
  /** The `reply_to` property (the rpc:// reply queue); default: the app's oid. A retry keeps the request's. */
  replyTo?: string;
  /** Signatures applied with the result (Celery's `link`). */
  link?: import('../protocol/message.js').SignatureJson[];
  /** Signatures applied on failure (Celery's `link_error`). */
  linkError?: import('../protocol/message.js').SignatureJson[];
  /** Remaining chain steps, in reverse order as on the wire. */
  chain?: import('../protocol/message.js').SignatureJson[];
}

export const SEND_OPTION_KEYS: readonly (keyof SendOptions)[] = [
  'kwargs',
  'countdown',
  'eta',
  'expires',
  'queue',
  'priority',
  'taskId',
  'timeLimit',
  'softTimeLimit',
  'ignoreResult',
  'retries',
  'replyTo',
  'parentId',
  'rootId',
  'group',
  'groupIndex',
  'shadow',
  'compression',
  'link',
  'linkError',
  'chain',
];
