/**
 * Result metadata exactly as Celery stores it (celery-wire.md §4.2), and the mapping of errors to and from
 * Celery's exception triple `{exc_type, exc_message, exc_module}`. Pure.
 */
import { CeleriacError, TaskError } from '../errors.js';
import { toIsoUtc } from './json.js';
import { pyRepr } from './repr.js';

export const States = {
  PENDING: 'PENDING',
  RECEIVED: 'RECEIVED',
  STARTED: 'STARTED',
  SUCCESS: 'SUCCESS',
  FAILURE: 'FAILURE',
  REVOKED: 'REVOKED',
  REJECTED: 'REJECTED',
  RETRY: 'RETRY',
  IGNORED: 'IGNORED',
} as const;
export type State = (typeof States)[keyof typeof States] | (string & {});

export const READY_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
export const EXCEPTION_STATES: ReadonlySet<string> = new Set(['RETRY', 'FAILURE', 'REVOKED']);

export interface ExcInfo {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string;
}

export interface ResultMeta {
  status: State;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  date_done: string | null;
  group_id?: string;
  parent_id?: string;
  name?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  worker?: string;
  retries?: number;
  queue?: string;
  task_id: string;
}

export interface MetaExtras {
  /**
   * Result tuples of the tasks sent from inside this task, `[[id, parent_tuple_or_null], null]` each.
   * Celery counts a retry's re-sent message too: a RETRY meta lists its own id (captured from Celery 5.2).
   */
  children?: unknown[];
  groupId?: string | null;
  parentId?: string | null;
  extended?: {
    name: string;
    args: unknown[];
    kwargs: Record<string, unknown>;
    worker: string;
    retries: number;
    queue: string;
  };
}

export function buildMeta(
  taskId: string,
  status: State,
  result: unknown,
  traceback: string | null,
  now: Date,
  extras: MetaExtras = {},
): ResultMeta {
  const meta: ResultMeta = {
    status,
    result,
    traceback,
    children: extras.children ?? [],
    date_done: READY_STATES.has(status) ? toIsoUtc(now) : null,
  } as unknown as ResultMeta;
  if (extras.groupId) meta.group_id = extras.groupId;
  if (extras.parentId) meta.parent_id = extras.parentId;
  const x = extras.extended;
  if (x) {
    // Fixed order whatever the caller's object order: name, args, kwargs, worker, retries, queue.
    meta.name = x.name;
    meta.args = x.args;
    meta.kwargs = x.kwargs;
    meta.worker = x.worker;
    meta.retries = x.retries;
    meta.queue = x.queue;
  }
  meta.task_id = taskId; // Celery writes task_id last
  return meta;
}

/** Names shared by JavaScript and Python's builtins: those errors re-raise as the real Python class. */
const PY_BUILTIN_NAMES = new Set([
  'TypeError',
  'ValueError',
  'KeyError',
  'IndexError',
  'RuntimeError',
  'NotImplementedError',
  'ZeroDivisionError',
  'AttributeError',
  'LookupError',
  'Exception',
  'ArithmeticError',
  'AssertionError',
  'OSError',
  'TimeoutError',
  'ConnectionError',
]);

/** Our error classes that have a Celery counterpart, so Python clients see the class they expect. */
const CELERY_NAMES: Record<string, [string, string]> = {
  E_TIME_LIMIT: ['TimeLimitExceeded', 'celery.exceptions'],
  E_SOFT_TIME_LIMIT: ['SoftTimeLimitExceeded', 'celery.exceptions'],
  E_WORKER_LOST: ['WorkerLostError', 'celery.exceptions'],
  E_NOT_REGISTERED: ['NotRegistered', 'celery.exceptions'],
  E_REVOKED: ['TaskRevokedError', 'celery.exceptions'],
  E_MAX_RETRIES: ['MaxRetriesExceededError', 'celery.exceptions'],
  E_CONTENT_DISALLOWED: ['ContentDisallowed', 'kombu.exceptions'],
  E_ENCODE: ['EncodeError', 'kombu.exceptions'],
  E_CHORD: ['ChordError', 'celery.exceptions'],
  E_CANVAS: ['TypeError', 'builtins'],
  E_NO_CHORDS: ['NotImplementedError', 'builtins'],
};

/** Turn anything a task threw into Celery's exception triple. */
export function serializeError(err: unknown): ExcInfo {
  if (err instanceof TaskError) {
    return { exc_type: err.excType, exc_message: err.excMessage, exc_module: err.excModule };
  }
  if (err instanceof CeleriacError && CELERY_NAMES[err.code]) {
    const [type, module] = CELERY_NAMES[err.code] as [string, string];
    return { exc_type: type, exc_message: [err.message], exc_module: module };
  }
  if (err instanceof Error) {
    const name = err.name || err.constructor?.name || 'Error';
    return {
      exc_type: name,
      exc_message: [err.message],
      exc_module: PY_BUILTIN_NAMES.has(name) ? 'builtins' : 'celeriac',
    };
  }
  return { exc_type: 'Exception', exc_message: [String(err)], exc_module: 'builtins' };
}

export function errorTraceback(err: unknown): string | null {
  if (err instanceof TaskError) return err.traceback;
  return err instanceof Error && err.stack ? err.stack : null;
}

/**
 * Python's repr() of the exception a stored triple stands for, as Celery writes it in a ChordError
 * (`Dependency <id> raised ValueError('header-boom')`): the class name and the repr of its args.
 */
export function excRepr(exc: unknown): string {
  const r = exc as Partial<ExcInfo> | null;
  if (!r || typeof r !== 'object' || typeof r.exc_type !== 'string') return pyRepr(exc);
  const args = Array.isArray(r.exc_message) ? r.exc_message : [r.exc_message];
  return `${r.exc_type}(${args.map((a) => pyRepr(a)).join(', ')})`;
}

/** Rebuild the error a failed (or revoked) meta describes, for `AsyncResult.get()` to reject with. */
export function errorFromMeta(meta: Pick<ResultMeta, 'result' | 'traceback' | 'status'>): TaskError {
  const r = meta.result as Partial<ExcInfo> | null;
  if (r && typeof r === 'object' && typeof r.exc_type === 'string') {
    const message = Array.isArray(r.exc_message) ? r.exc_message : [r.exc_message];
    return new TaskError(r.exc_type, r.exc_module ?? 'builtins', message, meta.traceback);
  }
  return new TaskError(
    meta.status === 'REVOKED' ? 'TaskRevokedError' : 'Exception',
    'celery.exceptions',
    [String(r)],
    meta.traceback,
  );
}
