/**
 * Reading one crontab field with Celery's rules (celery/schedules.py `crontab_parser`, 5.2), so an
 * expression means here what it means in Python, and a bad one is reported by field and value. Only
 * the parsing of a field into the set of values it names lives here; finding dates (month lengths, leap
 * days, DST) is croner's job (schedule.ts). PURE: no I/O, no clock.
 *
 * Celery's grammar, per comma-separated part: `*`, `N`, `A-B`, `*\/S`, `A-B/S`. Ranges whose end is
 * below their start wrap around (`fri-mon` is fri, sat, sun, mon); a step takes every S-th value of
 * the expanded range. Weekday names are matched on their first three letters (`mon`, `Monday`).
 * Additions, as in Unix cron: 7 is Sunday as well as 0; `N/S` is `N-max/S`; month names (`jan`).
 */

export type FieldName = 'minute' | 'hour' | 'dayOfMonth' | 'monthOfYear' | 'dayOfWeek';

/** Five-field order of a cron string. */
export const FIELD_ORDER: readonly FieldName[] = ['minute', 'hour', 'dayOfMonth', 'monthOfYear', 'dayOfWeek'];

const BOUNDS: Record<FieldName, readonly [min: number, max: number]> = {
  minute: [0, 59],
  hour: [0, 23],
  dayOfMonth: [1, 31],
  monthOfYear: [1, 12],
  // 7 is accepted (and read as 0, Sunday) as Unix cron does; Celery itself stops at 6.
  dayOfWeek: [0, 7],
};

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** A field that cannot be read; `problem` completes "schedule <field> '<value>' …". */
export class FieldError extends Error {
  constructor(
    readonly field: FieldName,
    readonly value: string,
    readonly problem: string,
  ) {
    super(`schedule ${field} '${value}' ${problem}`);
  }
}

/** `*` (any), or the sorted values a field names. */
export type FieldValues = '*' | readonly number[];

export function parseField(field: FieldName, raw: string | number): FieldValues {
  const text = String(raw).trim();
  const fail = (problem: string): never => {
    throw new FieldError(field, text, problem);
  };
  if (typeof raw !== 'string' && typeof raw !== 'number') fail('must be a number or a string');
  if (text === '*') return '*';
  if (text === '') fail('is empty');
  const [min, max] = BOUNDS[field];
  const upper = field === 'dayOfWeek' ? 6 : max; // where `*` and open ranges stop
  const out = new Set<number>();
  for (const part of text.split(',')) {
    if (!part) fail('has an empty part');
    const m = /^(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:\/(.*))?$/i.exec(part);
    if (!m) fail(`is not a cron field (use '*', 'N', 'A-B', '*/S' or 'A-B/S')`);
    const [, from = '', to, step] = m as RegExpExecArray;
    if (from === '*' && to !== undefined) fail(`has a range starting at '*'`);
    let values: number[];
    if (from === '*') values = range(min, upper);
    else {
      const a = number(field, from, fail);
      const b = to !== undefined ? number(field, to, fail) : step !== undefined ? upper : a;
      // Celery wraps a range whose end is below its start around the field's end.
      values = b >= a ? range(a, b) : [...range(a, upper), ...range(min, b)];
    }
    if (step !== undefined) {
      if (!/^[0-9]+$/.test(step) || Number(step) < 1)
        fail(`has step '${step}': a step is a whole number >= 1`);
      values = values.filter((_, i) => i % Number(step) === 0);
    }
    for (const v of values) out.add(field === 'dayOfWeek' && v === 7 ? 0 : v);
  }
  return [...out].sort((x, y) => x - y);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

function number(field: FieldName, token: string, fail: (problem: string) => never): number {
  const [min, max] = BOUNDS[field];
  let n: number;
  if (/^[0-9]+$/.test(token)) n = Number(token);
  else {
    const names = field === 'dayOfWeek' ? WEEKDAYS : field === 'monthOfYear' ? MONTHS : null;
    const i = names ? names.indexOf(token.slice(0, 3).toLowerCase()) : -1;
    if (i < 0) fail(names ? `has an unknown name '${token}'` : `has '${token}', which is not a number`);
    n = field === 'monthOfYear' ? i + 1 : i;
  }
  if (n < min || n > max) fail(`is out of range ${min}-${max}`);
  return n;
}
