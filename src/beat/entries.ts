// STAND-IN: replaced by branch beat-schedule at merge.
/**
 * Stand-in for the entries side (branch beat-schedule owns the real file): reads a `beatSchedule`-like
 * object from the app's settings, where branch beat-schedule declares the setting.
 */
import type { App } from '../app/app.js';
import { ConfigError } from '../errors.js';
import type { SendOptions } from '../task/options.js';
import { type CrontabSpec, parseSchedule, type Schedule } from './schedule.js';

export interface BeatEntryInput {
  task: string;
  schedule: number | string | CrontabSpec;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: SendOptions;
  relative?: boolean;
}

export interface BeatEntry {
  readonly name: string;
  readonly task: string;
  readonly schedule: Schedule;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly options: Readonly<SendOptions>;
  readonly relative: boolean;
}

export function beatEntries(app: App): BeatEntry[] {
  const source = (app.conf as { beatSchedule?: Record<string, BeatEntryInput> }).beatSchedule ?? {};
  return Object.entries(source).map(([name, e]) => {
    if (!e || typeof e.task !== 'string' || !e.task)
      throw new ConfigError(`beatSchedule entry "${name}": task must be a task name`);
    return {
      name,
      task: e.task,
      schedule: parseSchedule(e.schedule, app.conf.timezone, `beatSchedule entry "${name}"`),
      args: e.args ?? [],
      kwargs: e.kwargs ?? {},
      options: e.options ?? {},
      relative: e.relative ?? false,
    };
  });
}
