/**
 * The plain data of beat entries as the app holds it: the `beatSchedule` setting's shape and what
 * `app.periodic()` stores. Only data and its shape checks live here; parsing schedules and validating
 * entries is beat's (src/beat/entries.ts), which builds on the app from above, so app/ never imports
 * beat/.
 */
import { ConfigError } from '../errors.js';
import type { SignatureJson } from '../protocol/message.js';
import type { SendOptions } from '../task/options.js';
import { sendOptionsFromSignature } from '../task/signature.js';
import { hint } from '../util/suggest.js';

/** Celery's crontab() fields, camelCase; each a number or a cron field ('*\/15', '1-5', 'mon-fri'). */
export interface CrontabFields {
  minute?: string | number;
  hour?: string | number;
  dayOfWeek?: string | number;
  dayOfMonth?: string | number;
  monthOfYear?: string | number;
}

/** What `crontab()` returns: data, parsed when beat reads its entries. */
export interface CrontabSpec {
  readonly kind: 'crontab';
  readonly fields: Readonly<CrontabFields>;
}

/** One beat entry as written in `beatSchedule` (Celery's beat_schedule dict, camelCase). */
export interface BeatEntryInput {
  /** The task name; it need not be defined here (a Python worker may run it). */
  task: string;
  /** Seconds between runs, a cron string ('0 8 * * 1-5') or `crontab({...})`. */
  schedule: number | string | CrontabSpec;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  /** Send options of every run: queue, priority, expires (seconds after each send) … */
  options?: SendOptions;
  /** Interval schedules only: round each due time down to the interval's unit (Celery's `relative`). */
  relative?: boolean;
}

/** The third argument of `app.periodic()`: `every` (seconds) or `cron`, and the entry's options. */
export interface PeriodicOptions {
  every?: number;
  cron?: string | CrontabSpec;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: SendOptions;
  relative?: boolean;
}

/** A task name, anything with a task `name` (a Task), or a signature (`task.s(...)`, a Celery dict). */
export type PeriodicTarget = string | { readonly name: string } | SignatureJson | { toJSON(): SignatureJson };

const PERIODIC_KEYS = new Set(['every', 'cron', 'args', 'kwargs', 'options', 'relative']);

function signatureOf(target: object): SignatureJson | null {
  const maybe = target as { toJSON?: unknown; task?: unknown };
  const json = typeof maybe.toJSON === 'function' ? (maybe.toJSON as () => unknown)() : target;
  const sig = json as Partial<SignatureJson> | null;
  return sig && typeof sig === 'object' && typeof sig.task === 'string' ? (sig as SignatureJson) : null;
}

/**
 * `app.periodic(name, target, options)` as a BeatEntryInput. The shape is checked now (name, target,
 * exactly one of every/cron); the schedule itself is parsed, with every other entry, when beat starts.
 */
export function periodicInput(
  name: string,
  target: PeriodicTarget,
  options: PeriodicOptions,
): BeatEntryInput {
  const where = `app.periodic('${name}')`;
  if (typeof name !== 'string' || !name)
    throw new ConfigError('app.periodic(name, …): name must be a non-empty string');
  if (typeof options !== 'object' || options === null)
    throw new ConfigError(`${where}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!PERIODIC_KEYS.has(key)) {
      throw new ConfigError(`${where}: unknown option "${key}"${hint(key, PERIODIC_KEYS)}`);
    }
  }
  if ((options.every === undefined) === (options.cron === undefined))
    throw new ConfigError(`${where}: give exactly one of "every" (seconds) or "cron"`);
  const schedule = (options.every ?? options.cron) as number | string | CrontabSpec;
  let entry: BeatEntryInput;
  if (typeof target === 'string') {
    entry = { task: target, schedule };
  } else if (typeof target === 'object' && target !== null && signatureOf(target)) {
    // A signature brings its own args, kwargs and options; the entry's are applied over them.
    const sig = signatureOf(target) as SignatureJson;
    const { kwargs, ...sigOptions } = sendOptionsFromSignature(sig);
    entry = { task: sig.task, schedule, args: [...(sig.args ?? [])], kwargs: { ...kwargs } };
    if (Object.keys(sigOptions).length) entry.options = sigOptions;
  } else if (
    typeof target === 'object' &&
    target !== null &&
    typeof (target as { name?: unknown }).name === 'string'
  ) {
    entry = { task: (target as { name: string }).name, schedule };
  } else {
    throw new ConfigError(`${where}: the task must be a task name, a Task or a signature`);
  }
  if (options.args !== undefined) entry.args = options.args;
  if (options.kwargs !== undefined) entry.kwargs = { ...entry.kwargs, ...options.kwargs };
  if (options.options !== undefined) entry.options = { ...entry.options, ...options.options };
  if (options.relative !== undefined) entry.relative = options.relative;
  return entry;
}
