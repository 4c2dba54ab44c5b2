/**
 * Options a task definition owns, with Celery's names in camelCase and Celery's units (seconds).
 * Unset options fall back to the app's settings (src/app/config.ts); a worker resolves them once per task
 * when it starts. The type lists them all for users; which part of Celeriac owns each is declared by
 * the core (below) and by each middleware (`taskOptions`).
 */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** Whether `err` is one of `list` (classes by instanceof, strings by name), as `throws`/`autoretryFor` mean. */
export function errorMatches(err: unknown, list: ReadonlyArray<ErrorClass | string> | undefined): boolean {
  if (!list || !(err instanceof Error)) return false;
  return list.some((e) =>
    typeof e === 'string' ? err.name === e || err.constructor.name === e : err instanceof e,
  );
}

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

/**
 * The options the core itself reads: how a task is called (params), where it is published (queue,
 * priority), which pool of a mixed worker runs it (pool) and which failures are expected (throws). Every
 * other option belongs to the middleware that implements it and is declared there (`taskOptions`); the
 * app accepts the union, so a misspelt option still fails at definition with a did-you-mean.
 */
export const CORE_TASK_OPTION_KEYS: readonly (keyof TaskOptions)[] = [
  'params',
  'queue',
  'priority',
  'pool',
  'throws',
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
  /** Celery's `origin` header; default: the app's `gen<pid>@<host>` (workers pass their node name). */
  origin?: string;
  /** The `reply_to` property (the rpc:// reply queue); default: the app's oid. A retry keeps the request's. */
  replyTo?: string;
  /** Signatures applied with the result (Celery's `link`). */
  link?: import('../protocol/message.js').SignatureJson[];
  /** Signatures applied on failure (Celery's `link_error`). */
  linkError?: import('../protocol/message.js').SignatureJson[];
  /** Remaining chain steps, in reverse order as on the wire. */
  chain?: import('../protocol/message.js').SignatureJson[];
  /** The chord body this task is a header part of (`embed.chord`); set with `group` and `groupIndex`. */
  chord?: import('../protocol/message.js').SignatureJson;
  /**
   * Published from inside a running task: record it in that task's `children` (Celery's
   * `add_to_parent`). @defaultValue true. Canvas sets false on group members and records the group.
   */
  addToParent?: boolean;
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
  'origin',
  'parentId',
  'rootId',
  'group',
  'groupIndex',
  'shadow',
  'compression',
  'link',
  'linkError',
  'chain',
  'chord',
  'addToParent',
];
