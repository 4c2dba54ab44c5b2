/**
 * An app's beat entries, read and validated once when beat starts (or `beat --list` runs): the
 * `beatSchedule` setting plus the entries added with `app.periodic()`. Everything wrong in an entry
 * fails here, naming the entry and the field, so a beat never starts with an entry it cannot run.
 */
import type { App } from '../app/app.js';
import type { BeatEntryInput } from '../app/periodic.js';
import { ConfigError } from '../errors.js';
import { SEND_OPTION_KEYS, type SendOptions } from '../task/options.js';
import { hint } from '../util/suggest.js';
import { parseSchedule, type Schedule } from './schedule.js';

export type { BeatEntryInput } from '../app/periodic.js';

export interface BeatEntry {
  readonly name: string;
  readonly task: string;
  /** Already includes `relative`: call `schedule.next(previousDue)`. */
  readonly schedule: Schedule;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly options: Readonly<SendOptions>;
  readonly relative: boolean;
}

const ENTRY_KEYS = ['task', 'schedule', 'args', 'kwargs', 'options', 'relative'];

/**
 * Send options that make no sense on every run of an entry: one fixed id or ETA would be shared by every
 * run, and the entry's own kwargs are the kwargs.
 */
const FIXED_PER_RUN: Partial<Record<keyof SendOptions, string>> = {
  taskId: 'every run gets its own id',
  eta: 'every run is sent when due; use countdown for a delay',
  kwargs: "use the entry's kwargs",
};

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** All entries of an app: the `beatSchedule` setting plus `app.periodic(...)` ones; validated; sorted by name. */
export function beatEntries(app: App): BeatEntry[] {
  const inputs = new Map<string, unknown>(Object.entries(app.conf.beatSchedule));
  for (const [name, entry] of app.periodicEntries) {
    // app.periodic() refuses names already in beatSchedule; this covers a Map changed behind its back.
    if (inputs.has(name)) throw new ConfigError(`beat entry '${name}' is defined twice`);
    inputs.set(name, entry);
  }
  return [...inputs]
    .map(([name, input]) => readEntry(name, input, app.conf.timezone))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** One entry, validated; `timezone` is the app's. Exported for tests and tools that read one entry. */
export function readEntry(name: string, input: unknown, timezone: string): BeatEntry {
  const where = `beat entry '${name}'`;
  if (!name) throw new ConfigError('beat entry names must be non-empty strings');
  if (!isPlainObject(input)) throw new ConfigError(`${where}: must be an object { task, schedule, … }`);
  for (const key of Object.keys(input)) {
    if (!ENTRY_KEYS.includes(key))
      throw new ConfigError(`${where}: unknown key "${key}"${hint(key, ENTRY_KEYS)}`);
  }
  const e = input as Partial<BeatEntryInput>;
  if (typeof e.task !== 'string' || !e.task.trim())
    throw new ConfigError(`${where}: task must be a non-empty string (the task's name)`);
  if (e.schedule === undefined) throw new ConfigError(`${where}: schedule is required`);
  if (e.args !== undefined && !Array.isArray(e.args))
    throw new ConfigError(`${where}: args must be an array`);
  if (e.kwargs !== undefined && !isPlainObject(e.kwargs))
    throw new ConfigError(`${where}: kwargs must be an object`);
  if (e.relative !== undefined && typeof e.relative !== 'boolean')
    throw new ConfigError(`${where}: relative must be true or false`);
  const options = e.options ?? {};
  if (!isPlainObject(options)) throw new ConfigError(`${where}: options must be an object of send options`);
  for (const key of Object.keys(options)) {
    if (!(SEND_OPTION_KEYS as readonly string[]).includes(key))
      throw new ConfigError(`${where}: unknown option "${key}"${hint(key, SEND_OPTION_KEYS)}`);
    const why = FIXED_PER_RUN[key as keyof SendOptions];
    if (why) throw new ConfigError(`${where}: option "${key}" cannot be set on a periodic entry: ${why}`);
  }
  const relative = e.relative === true;
  return Object.freeze({
    name,
    task: e.task,
    schedule: parseSchedule(e.schedule, timezone, where, { relative }),
    args: Object.freeze([...(e.args ?? [])]),
    kwargs: Object.freeze({ ...(e.kwargs ?? {}) }),
    options: Object.freeze({ ...options }) as Readonly<SendOptions>,
    relative,
  });
}
