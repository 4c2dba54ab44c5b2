// STAND-IN: replaced by branch beat-schedule at merge.
/**
 * Stand-in for the schedule side (branch beat-schedule owns the real file): intervals in seconds only.
 * An interval is anchored to the epoch, so its slots are the multiples of the period and never drift
 * however late a beat wakes up. Anything else (cron strings, crontab()) fails with a ConfigError.
 */
import { ConfigError } from '../errors.js';

export interface Schedule {
  /** The first due time strictly after `after`, epoch ms. */
  next(after: number): number;
  readonly text: string;
}

export interface CrontabSpec {
  readonly kind: 'crontab';
  readonly fields: Readonly<{
    minute?: string | number;
    hour?: string | number;
    dayOfWeek?: string | number;
    dayOfMonth?: string | number;
    monthOfYear?: string | number;
  }>;
}

export function crontab(fields: CrontabSpec['fields'] = {}): CrontabSpec {
  return { kind: 'crontab', fields };
}

export function parseSchedule(
  spec: number | string | CrontabSpec,
  _timezone: string,
  where: string,
): Schedule {
  if (typeof spec !== 'number' || !Number.isFinite(spec) || spec <= 0) {
    throw new ConfigError(
      `${where}: schedule must be a number of seconds > 0 (cron schedules arrive with branch beat-schedule)`,
    );
  }
  const period = Math.round(spec * 1000);
  return {
    text: `every ${spec} s`,
    next: (after) => (Math.floor(after / period) + 1) * period,
  };
}
