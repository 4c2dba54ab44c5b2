/**
 * Schedules: when an entry is next due. Three shapes, as Celery's beat takes them: seconds (an
 * interval), a five-field cron string, and `crontab({...})`. Every schedule answers one question,
 * `next(after)`: the first due time strictly after `after`. The runtime passes the previous *due* time
 * (not the time it woke up), so intervals neither drift nor catch up. PURE apart from reading the zone
 * rules through Intl: no I/O, no clock.
 *
 * Cron dates (month lengths, leap days, DST gaps) are croner's; we parse fields with Celery's rules
 * (cron-fields.ts) and add one rule croner leaves to the zone: a repeated wall time fires once.
 *
 * DST, in the `timezone` setting (tested in test/unit/beat-schedule.test.ts):
 *  - spring forward: a wall time the clock skips (02:30 in Berlin on the last Sunday of March) runs
 *    once, at the same distance after the gap (03:30); croner's rule;
 *  - fall back: a wall time that happens twice (01:30 in New York on the first Sunday of November)
 *    runs once, at its first occurrence (daylight time), as cronie does. croner 9 picks the first
 *    occurrence in some zones (America/New_York) and the second in others (Europe/Berlin), so
 *    `firstOccurrence` below settles it for all;
 *  - intervals are elapsed time and ignore the zone; `relative` rounds down in local wall time.
 */
import { Cron } from 'croner';
import { ConfigError } from '../errors.js';
import { hint } from '../util/suggest.js';
import { FIELD_ORDER, FieldError, type FieldName, parseField } from './cron-fields.js';

export type { CrontabFields, CrontabSpec } from '../app/periodic.js';

import type { CrontabFields, CrontabSpec } from '../app/periodic.js';

export interface Schedule {
  /** The first due time strictly after `after` (epoch milliseconds), in the schedule's timezone rules. */
  next(after: number): number;
  /** For logs and `beat --list`: 'every 30s', 'cron 0 8 * * 1-5 (Europe/Berlin)'. */
  readonly text: string;
  /**
   * Set for a plain interval (milliseconds): its slots are the previous due time plus whole multiples of
   * it, so the latest of many missed slots is arithmetic. Unset for cron and relative schedules, whose
   * slots are fixed instants whatever `after` is (a binary search over `next` finds the latest).
   */
  readonly every?: number;
}

const CRONTAB_KEYS = new Set<string>(FIELD_ORDER);

/** Celery's crontab(): unset fields are '*'. Checked when beat reads its entries (parseSchedule). */
export function crontab(fields: CrontabFields = {}): CrontabSpec {
  return Object.freeze({ kind: 'crontab', fields: Object.freeze({ ...fields }) });
}

/**
 * seconds (number), a cron string ('0 8 * * 1-5'), or crontab(): validated, evaluated in `timezone`.
 * Throws ConfigError naming `where` and the field. `relative` (intervals only) is Celery's: each due
 * time is rounded down to the interval's unit (day, hour, minute or second) in local wall time.
 */
export function parseSchedule(
  spec: number | string | CrontabSpec,
  timezone: string,
  where: string,
  options: { relative?: boolean } = {},
): Schedule {
  if (typeof spec === 'number') return intervalSchedule(spec, timezone, where, options.relative === true);
  if (options.relative)
    throw new ConfigError(`${where}: relative applies to interval schedules (seconds) only`);
  let fields: Partial<Record<FieldName, string | number>>;
  let text: string;
  if (typeof spec === 'string') {
    const parts = spec.trim().split(/\s+/);
    if (parts.length !== 5 || !parts[0])
      throw new ConfigError(
        `${where}: schedule '${spec}' must have 5 fields (minute hour day-of-month month day-of-week), not ${parts[0] ? parts.length : 0}`,
      );
    fields = Object.fromEntries(FIELD_ORDER.map((f, i) => [f, parts[i] as string]));
    text = parts.join(' ');
  } else if (isCrontab(spec)) {
    for (const key of Object.keys(spec.fields)) {
      if (!CRONTAB_KEYS.has(key))
        throw new ConfigError(`${where}: crontab() has no field "${key}"${hintOf(key)}`);
    }
    fields = spec.fields;
    text = FIELD_ORDER.map((f) => String(spec.fields[f] ?? '*').trim()).join(' ');
  } else {
    throw new ConfigError(`${where}: schedule must be seconds, a cron string or crontab({...})`);
  }
  return cronSchedule(fields, `cron ${text} (${timezone})`, timezone, where);
}

/** The next `n` due times after `from` (epoch ms), for `beat --list`. */
export function nextRuns(schedule: Schedule, from: number, n = 5): number[] {
  const out: number[] = [];
  let t = from;
  for (let i = 0; i < n; i++) {
    t = schedule.next(t);
    if (!Number.isFinite(t)) break;
    out.push(t);
  }
  return out;
}

/** `epochMs` as local ISO time with its offset in `timezone`: '2024-03-31T03:30:00+02:00'. */
export function localIso(epochMs: number, timezone: string): string {
  const wall = wallClock(epochMs, timezone);
  const offset = Math.round((wall - epochMs) / 60_000);
  const abs = Math.abs(offset);
  const pad = (v: number) => String(v).padStart(2, '0');
  const sign = offset < 0 ? '-' : '+';
  return `${new Date(wall).toISOString().slice(0, 19)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function isCrontab(spec: unknown): spec is CrontabSpec {
  const s = spec as Partial<CrontabSpec> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    s.kind === 'crontab' &&
    typeof s.fields === 'object' &&
    s.fields !== null
  );
}

/** Python's names (day_of_week) are suggested in camelCase. */
function hintOf(key: string): string {
  return hint(
    key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    FIELD_ORDER,
  );
}

function intervalSchedule(seconds: number, timezone: string, where: string, relative: boolean): Schedule {
  const every = Math.round(seconds * 1000);
  if (!Number.isFinite(seconds) || every < 1)
    throw new ConfigError(`${where}: schedule ${seconds} must be a number of seconds > 0`);
  if (!relative) return { text: `every ${seconds}s`, every, next: (after) => after + every };
  // Celery's delta_resolution: an interval of a day or more rounds to the day, of an hour or more to the
  // hour, of a minute or more to the minute; anything shorter to the second.
  const unit =
    every >= 86_400_000 ? 86_400_000 : every >= 3_600_000 ? 3_600_000 : every >= 60_000 ? 60_000 : 1000;
  return {
    text: `every ${seconds}s (relative)`,
    next(after) {
      let t = roundDown(after + every, unit, timezone);
      while (t <= after) t = roundDown(t + every, unit, timezone); // a sub-second interval rounded away
      return t;
    },
  };
}

/** `t` rounded down to a whole `unit` of local wall time in `timezone`. */
function roundDown(t: number, unit: number, timezone: string): number {
  const wall = wallClock(t, timezone);
  const target = wall - (wall % unit);
  // The instant whose wall time is `target`: two steps of "wall minus offset" settle across a DST change.
  let x = target - (wall - t);
  x = target - (wallClock(x, timezone) - x);
  return Math.min(x, t);
}

function cronSchedule(
  fields: Partial<Record<FieldName, string | number>>,
  text: string,
  timezone: string,
  where: string,
): Schedule {
  const pattern: string[] = [];
  for (const f of FIELD_ORDER) {
    try {
      const values = parseField(f, fields[f] ?? '*');
      pattern.push(values === '*' ? '*' : values.join(','));
    } catch (err) {
      if (err instanceof FieldError) throw new ConfigError(`${where}: ${err.message}`);
      throw err;
    }
  }
  // legacyMode: false. Celery runs only on days that match day-of-month AND day-of-week (and the month):
  // crontab(day_of_week=1, day_of_month='1-7') is the first Monday. croner's default (legacyMode: true)
  // is Vixie cron's OR when both day fields are restricted, so it must be turned off. Cron strings
  // follow the same rule, so a string and the crontab() with the same fields mean the same thing.
  let cron: Cron;
  try {
    cron = new Cron(pattern.join(' '), { timezone, legacyMode: false, paused: true });
    cron.nextRun(new Date(0));
  } catch (err) {
    throw new ConfigError(
      `${where}: cannot evaluate '${pattern.join(' ')}' in timezone '${timezone}': ${String(err)}`,
    );
  }
  const croner = (after: number): number | null => cron.nextRun(new Date(after))?.getTime() ?? null;
  if (croner(Date.UTC(2000, 0, 1)) === null) {
    const [, , dom, moy, dow] = FIELD_ORDER.map((f) => String(fields[f] ?? '*'));
    throw new ConfigError(
      `${where}: schedule never matches: no date has dayOfMonth '${dom}', monthOfYear '${moy}' and dayOfWeek '${dow}' together`,
    );
  }
  return {
    text,
    next(after) {
      let from = after;
      // Bounded: each turn skips one repeat of a wall time, and a repeated hour has at most 60 of them.
      for (let i = 0; i < 200; i++) {
        const r = croner(from);
        if (r === null) return Number.POSITIVE_INFINITY; // past croner's last year
        const first = firstOccurrence(r, timezone);
        if (first === r || first > after) return first;
        from = r; // r repeats a wall time that was due at `first`, at or before `after`: once, not twice
      }
      return Number.POSITIVE_INFINITY;
    },
  };
}

/** The earliest instant with the same local wall time as `t`: `t` itself unless the clock went back. */
function firstOccurrence(t: number, timezone: string): number {
  const offset = wallClock(t, timezone) - t;
  const dayBefore = t - 86_400_000;
  const offsetBefore = wallClock(dayBefore, timezone) - dayBefore;
  if (offsetBefore <= offset) return t;
  const twin = t - (offsetBefore - offset);
  return wallClock(twin, timezone) === wallClock(t, timezone) ? twin : t;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local wall time of `t` in `timezone`, as epoch ms of the same fields read as UTC. */
function wallClock(t: number, timezone: string): number {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(t))) p[part.type] = Number(part.value);
  const ms = ((t % 1000) + 1000) % 1000;
  return (
    Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0) + ms
  );
}
