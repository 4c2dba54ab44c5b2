/**
 * A signature's execution options: typed with Celery's names in camelCase for callers, stored in the
 * signature's `options` under Celery's own names (snake_case, dates as ISO strings), so the dict is the
 * one Celery writes and the one translation (task/signature.ts) reads it back.
 */
import { ConfigError } from '../errors.js';
import { toIsoUtc } from '../protocol/json.js';

/** Execution options of a signature, Celery's names in camelCase; stored in `options` under Celery's names. */
export interface SignatureOptions {
  countdown?: number;
  eta?: Date | string;
  /** Seconds from when it is sent, or a Date. */
  expires?: number | Date | string;
  queue?: string;
  priority?: number;
  taskId?: string;
  timeLimit?: number;
  softTimeLimit?: number;
  ignoreResult?: boolean;
  shadow?: string;
  replyTo?: string;
  /** True: the parent's result is not prepended (Celery's `set(immutable=True)`). */
  immutable?: boolean;
}

const OPTION_NAMES: Record<Exclude<keyof SignatureOptions, 'immutable'>, string> = {
  countdown: 'countdown',
  eta: 'eta',
  expires: 'expires',
  queue: 'queue',
  priority: 'priority',
  taskId: 'task_id',
  timeLimit: 'time_limit',
  softTimeLimit: 'soft_time_limit',
  ignoreResult: 'ignore_result',
  shadow: 'shadow',
  replyTo: 'reply_to',
};

/** SignatureOptions as Celery's option dict (snake_case, dates as ISO strings). Unknown names throw. */
export function celeryOptions(options: SignatureOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (key === 'immutable' || value === undefined) continue;
    const name = OPTION_NAMES[key as keyof typeof OPTION_NAMES];
    if (!name) {
      const known = Object.keys(OPTION_NAMES).join(', ');
      throw new ConfigError(`Unknown signature option "${key}" (known: ${known}, immutable)`);
    }
    out[name] = value instanceof Date ? toIsoUtc(value) : value;
  }
  return out;
}
