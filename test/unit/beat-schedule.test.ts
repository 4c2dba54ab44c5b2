/**
 * Beat's schedule maths at explicit instants (no clock is read): Celery's crontab fields, cron strings,
 * DST forward and back in Europe/Berlin and America/New_York, month ends, leap days, intervals that
 * drift neither way, `relative`; then entry validation messages, the timezone setting, app.periodic().
 */
import { describe, expect, it } from 'vitest';
import { beatEntries, readEntry } from '../../src/beat/entries.js';
import { localIso, nextRuns, parseSchedule } from '../../src/beat/schedule.js';
import { Celeriac, ConfigError, crontab } from '../../src/index.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** The next `n` due times after `from`, as UTC ISO strings. */
const runs = (spec: Parameters<typeof parseSchedule>[0], tz: string, from: string, n = 4) =>
  nextRuns(parseSchedule(spec, tz, 'test'), at(from), n).map(iso);
const local = (spec: Parameters<typeof parseSchedule>[0], tz: string, from: string, n = 4) =>
  nextRuns(parseSchedule(spec, tz, 'test'), at(from), n).map((t) => localIso(t, tz));

describe('cron fields (Celery crontab semantics)', () => {
  it('steps and ranges', () => {
    expect(runs('*/15 * * * *', 'UTC', '2024-06-03T10:07:00Z')).toEqual([
      '2024-06-03T10:15:00Z',
      '2024-06-03T10:30:00Z',
      '2024-06-03T10:45:00Z',
      '2024-06-03T11:00:00Z',
    ]);
    expect(runs(crontab({ minute: 0, hour: '8-17/3' }), 'UTC', '2024-06-03T00:00:00Z')).toEqual([
      '2024-06-03T08:00:00Z',
      '2024-06-03T11:00:00Z',
      '2024-06-03T14:00:00Z',
      '2024-06-03T17:00:00Z',
    ]);
    expect(runs(crontab({ minute: '0,30-40/5', hour: 9 }), 'UTC', '2024-06-03T00:00:00Z')).toEqual([
      '2024-06-03T09:00:00Z',
      '2024-06-03T09:30:00Z',
      '2024-06-03T09:35:00Z',
      '2024-06-03T09:40:00Z',
    ]);
  });

  it('is strictly after `after`, and unset crontab fields are *', () => {
    expect(runs(crontab({ minute: 0, hour: 8 }), 'UTC', '2024-06-03T08:00:00Z', 1)).toEqual([
      '2024-06-04T08:00:00Z',
    ]);
    expect(runs(crontab(), 'UTC', '2024-06-03T08:00:30Z', 2)).toEqual([
      '2024-06-03T08:01:00Z',
      '2024-06-03T08:02:00Z',
    ]);
  });

  it('weekday names, 0 and 7 for Sunday, and wrapping ranges', () => {
    // 2024-06-01 is a Saturday.
    const weekdays = runs(
      crontab({ minute: 0, hour: 8, dayOfWeek: 'mon-fri' }),
      'UTC',
      '2024-06-01T00:00:00Z',
      6,
    );
    expect(weekdays.map((d) => d.slice(0, 10))).toEqual([
      '2024-06-03',
      '2024-06-04',
      '2024-06-05',
      '2024-06-06',
      '2024-06-07',
      '2024-06-10',
    ]);
    expect(runs('0 8 * * 1-5', 'UTC', '2024-06-01T00:00:00Z', 6)).toEqual(weekdays);
    for (const sunday of [0, 7, 'sun', 'Sunday']) {
      expect(
        runs(crontab({ minute: 0, hour: 0, dayOfWeek: sunday }), 'UTC', '2024-06-01T00:00:00Z', 1),
      ).toEqual(['2024-06-02T00:00:00Z']);
    }
    // Celery wraps a range whose end is below its start: fri, sat, sun, mon.
    const wrap = runs(
      crontab({ minute: 0, hour: 0, dayOfWeek: 'fri-mon' }),
      'UTC',
      '2024-06-05T00:00:00Z',
      5,
    );
    expect(wrap.map((d) => d.slice(0, 10))).toEqual([
      '2024-06-07',
      '2024-06-08',
      '2024-06-09',
      '2024-06-10',
      '2024-06-14',
    ]);
  });

  it('a day must match day of month AND day of week (Celery), not either (Vixie cron)', () => {
    const firstMondays = [
      '2024-01-01T00:00:00Z',
      '2024-02-05T00:00:00Z',
      '2024-03-04T00:00:00Z',
      '2024-04-01T00:00:00Z',
    ];
    expect(
      runs(crontab({ minute: 0, hour: 0, dayOfWeek: 1, dayOfMonth: '1-7' }), 'UTC', '2023-12-31T00:00:00Z'),
    ).toEqual(firstMondays);
    expect(runs('0 0 1-7 * mon', 'UTC', '2023-12-31T00:00:00Z')).toEqual(firstMondays);
  });

  it('month of year, month ends and leap days', () => {
    expect(
      runs(crontab({ minute: 0, hour: 0, dayOfMonth: 1, monthOfYear: '*/3' }), 'UTC', '2024-01-15T00:00:00Z'),
    ).toEqual([
      '2024-04-01T00:00:00Z',
      '2024-07-01T00:00:00Z',
      '2024-10-01T00:00:00Z',
      '2025-01-01T00:00:00Z',
    ]);
    // The 31st runs only in months that have one; the 30th skips February.
    expect(runs('0 0 31 * *', 'UTC', '2024-01-31T00:00:00Z', 3)).toEqual([
      '2024-03-31T00:00:00Z',
      '2024-05-31T00:00:00Z',
      '2024-07-31T00:00:00Z',
    ]);
    expect(runs('0 12 30 * *', 'UTC', '2024-01-30T12:00:00Z', 2)).toEqual([
      '2024-03-30T12:00:00Z',
      '2024-04-30T12:00:00Z',
    ]);
    expect(runs('0 0 29 2 *', 'UTC', '2023-01-01T00:00:00Z', 3)).toEqual([
      '2024-02-29T00:00:00Z',
      '2028-02-29T00:00:00Z',
      '2032-02-29T00:00:00Z',
    ]);
    // The last day of February in a leap year and not.
    expect(runs('0 0 28-29 2 *', 'UTC', '2023-01-01T00:00:00Z', 3)).toEqual([
      '2023-02-28T00:00:00Z',
      '2024-02-28T00:00:00Z',
      '2024-02-29T00:00:00Z',
    ]);
  });

  it('a schedule in a zone runs at local wall time', () => {
    expect(local('0 8 * * *', 'Europe/Berlin', '2024-01-10T00:00:00Z', 1)).toEqual([
      '2024-01-10T08:00:00+01:00',
    ]);
    expect(local('0 8 * * *', 'Europe/Berlin', '2024-07-10T00:00:00Z', 1)).toEqual([
      '2024-07-10T08:00:00+02:00',
    ]);
    expect(parseSchedule('0 8 * * 1-5', 'Europe/Berlin', 'x').text).toBe('cron 0 8 * * 1-5 (Europe/Berlin)');
    expect(parseSchedule(crontab({ hour: 3, minute: 0 }), 'UTC', 'x').text).toBe('cron 0 3 * * * (UTC)');
  });
});

describe('DST', () => {
  it('spring forward: a skipped wall time runs once, just after the gap (Berlin)', () => {
    // 2024-03-31: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
    expect(local('30 2 * * *', 'Europe/Berlin', '2024-03-30T12:00:00Z', 3)).toEqual([
      '2024-03-31T03:30:00+02:00',
      '2024-04-01T02:30:00+02:00',
      '2024-04-02T02:30:00+02:00',
    ]);
    expect(local('*/30 * * * *', 'Europe/Berlin', '2024-03-31T00:10:00Z', 3)).toEqual([
      '2024-03-31T01:30:00+01:00',
      '2024-03-31T03:00:00+02:00',
      '2024-03-31T03:30:00+02:00',
    ]);
  });

  it('spring forward in New York', () => {
    // 2024-03-10: 02:00 EST becomes 03:00 EDT.
    expect(local('30 2 * * *', 'America/New_York', '2024-03-09T12:00:00Z', 2)).toEqual([
      '2024-03-10T03:30:00-04:00',
      '2024-03-11T02:30:00-04:00',
    ]);
  });

  it('fall back: a repeated wall time runs once, at its first occurrence (New York)', () => {
    // 2024-11-03: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
    expect(local('30 1 * * *', 'America/New_York', '2024-11-02T12:00:00Z', 2)).toEqual([
      '2024-11-03T01:30:00-04:00',
      '2024-11-04T01:30:00-05:00',
    ]);
    expect(local('*/30 * * * *', 'America/New_York', '2024-11-03T04:50:00Z', 4)).toEqual([
      '2024-11-03T01:00:00-04:00',
      '2024-11-03T01:30:00-04:00',
      '2024-11-03T02:00:00-05:00',
      '2024-11-03T02:30:00-05:00',
    ]);
  });

  it('fall back in Berlin: the same rule (croner alone would pick the second occurrence here)', () => {
    // 2024-10-27: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happen twice.
    expect(local('30 2 * * *', 'Europe/Berlin', '2024-10-26T12:00:00Z', 2)).toEqual([
      '2024-10-27T02:30:00+02:00',
      '2024-10-28T02:30:00+01:00',
    ]);
    expect(local('*/30 * * * *', 'Europe/Berlin', '2024-10-26T23:50:00Z', 4)).toEqual([
      '2024-10-27T02:00:00+02:00',
      '2024-10-27T02:30:00+02:00',
      '2024-10-27T03:00:00+01:00',
      '2024-10-27T03:30:00+01:00',
    ]);
    // Asked from inside the repeated hour (a beat that started there): those wall times were due already.
    expect(local('*/30 * * * *', 'Europe/Berlin', '2024-10-27T01:10:00Z', 1)).toEqual([
      '2024-10-27T03:00:00+01:00',
    ]);
  });
});

describe('intervals', () => {
  it('anchor on the previous due time: no drift forward or back over many steps', () => {
    for (const seconds of [30, 0.1, 7.25, 86_400]) {
      const s = parseSchedule(seconds, 'Europe/Berlin', 'x');
      const start = at('2024-03-30T22:59:59.123Z'); // across a DST change too
      let t = start;
      for (let i = 0; i < 20_000; i++) t = s.next(t);
      expect(t - start).toBe(20_000 * Math.round(seconds * 1000));
    }
    expect(parseSchedule(30, 'UTC', 'x').text).toBe('every 30s');
  });

  it('relative rounds each due time down to the interval unit, as Celery', () => {
    const hourly = parseSchedule(3600, 'UTC', 'x', { relative: true });
    expect(nextRuns(hourly, at('2024-06-03T10:17:23Z'), 3).map(iso)).toEqual([
      '2024-06-03T11:00:00Z',
      '2024-06-03T12:00:00Z',
      '2024-06-03T13:00:00Z',
    ]);
    expect(hourly.text).toBe('every 3600s (relative)');
    // Daily in Berlin: local midnight, across the spring-forward night.
    const daily = parseSchedule(86_400, 'Europe/Berlin', 'x', { relative: true });
    expect(nextRuns(daily, at('2024-03-30T10:00:00Z'), 2).map((t) => localIso(t, 'Europe/Berlin'))).toEqual([
      '2024-03-31T00:00:00+01:00',
      '2024-04-01T00:00:00+02:00',
    ]);
    // Under a minute: to the second.
    const s = parseSchedule(10, 'UTC', 'x', { relative: true });
    expect(iso(s.next(at('2024-06-03T10:00:00.700Z')))).toBe('2024-06-03T10:00:10Z');
  });
});

describe('entry validation', () => {
  const bad = (input: unknown, tz = 'UTC') => {
    try {
      readEntry('nightly-report', input, tz);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('no error');
  };
  const task = 'reports.nightly';

  it('names the entry and the field', () => {
    expect(bad({ task, schedule: crontab({ hour: 25, minute: 0 }) })).toBe(
      "beat entry 'nightly-report': schedule hour '25' is out of range 0-23",
    );
    expect(bad({ task, schedule: '0 8 * * mox' })).toBe(
      "beat entry 'nightly-report': schedule dayOfWeek 'mox' has an unknown name 'mox'",
    );
    expect(bad({ task, schedule: '*/0 * * * *' })).toBe(
      "beat entry 'nightly-report': schedule minute '*/0' has step '0': a step is a whole number >= 1",
    );
    expect(bad({ task, schedule: '0 0 32 * *' })).toMatch(/schedule dayOfMonth '32' is out of range 1-31/);
    expect(bad({ task, schedule: '0 0 1,,2 * *' })).toMatch(/dayOfMonth '1,,2' has an empty part/);
    expect(bad({ task, schedule: '0 8 * *' })).toMatch(/must have 5 fields .* not 4/);
    expect(bad({ task, schedule: '0 0 30 2 *' })).toMatch(
      /never matches: no date has dayOfMonth '30', monthOfYear '2'/,
    );
    expect(bad({ task, schedule: crontab({ day_of_week: 1 } as never) })).toMatch(
      /crontab\(\) has no field "day_of_week" \(did you mean "dayOfWeek"\?\)/,
    );
    expect(bad({ task, schedule: 0 })).toMatch(/schedule 0 must be a number of seconds > 0/);
    expect(bad({ task, schedule: {} })).toMatch(/schedule must be seconds, a cron string or crontab/);
  });

  it('unknown keys and options get a did-you-mean; task, args, kwargs and relative are checked', () => {
    expect(bad({ task, shedule: 30 })).toBe(
      `beat entry 'nightly-report': unknown key "shedule" (did you mean "schedule"?)`,
    );
    expect(bad({ task, schedule: 30, options: { queu: 'q' } })).toMatch(
      /unknown option "queu" \(did you mean "queue"\?\)/,
    );
    expect(bad({ task, schedule: 30, options: { taskId: 'x' } })).toMatch(/option "taskId" cannot be set/);
    expect(bad({ task: '', schedule: 30 })).toMatch(/task must be a non-empty string/);
    expect(bad({ schedule: 30 })).toMatch(/task must be a non-empty string/);
    expect(bad({ task })).toMatch(/schedule is required/);
    expect(bad({ task, schedule: 30, args: 'eu' })).toMatch(/args must be an array/);
    expect(bad({ task, schedule: 30, kwargs: [] })).toMatch(/kwargs must be an object/);
    expect(bad({ task, schedule: 30, relative: 'yes' })).toMatch(/relative must be true or false/);
    expect(bad({ task, schedule: '0 3 * * *', relative: true })).toMatch(
      /relative applies to interval schedules/,
    );
  });

  it('a valid entry is frozen data with its schedule parsed', () => {
    const e = readEntry(
      'weekday-digest',
      { task: 'mail.digest', schedule: '0 8 * * 1-5', options: { queue: 'mail', expires: 3600 } },
      'UTC',
    );
    expect(e).toMatchObject({
      name: 'weekday-digest',
      task: 'mail.digest',
      args: [],
      kwargs: {},
      relative: false,
    });
    expect(e.options).toEqual({ queue: 'mail', expires: 3600 });
    expect(Object.isFrozen(e)).toBe(true);
    expect(e.schedule.text).toBe('cron 0 8 * * 1-5 (UTC)');
  });
});

describe('the timezone setting', () => {
  it('takes any IANA zone; a bad one fails at app creation naming the setting', () => {
    expect(new Celeriac({ broker: 'memory://tz-a' }).conf.timezone).toBe('UTC');
    expect(new Celeriac({ broker: 'memory://tz-b', timezone: 'America/New_York' }).conf.timezone).toBe(
      'America/New_York',
    );
    expect(() => new Celeriac({ broker: 'memory://tz-c', timezone: 'Europe/Berln' })).toThrow(
      /timezone "Europe\/Berln" is not an IANA time zone .*\(did you mean "Europe\/Berlin"\?\)/,
    );
    expect(() => new Celeriac({ broker: 'memory://tz-d', timezone: '' })).toThrow(ConfigError);
  });

  it('beat evaluates entries in it', () => {
    const app = new Celeriac({
      broker: 'memory://tz-e',
      timezone: 'Europe/Berlin',
      beatSchedule: { morning: { task: 't', schedule: '0 8 * * *' } },
    });
    const [entry] = beatEntries(app);
    expect(entry?.schedule.text).toBe('cron 0 8 * * * (Europe/Berlin)');
    expect(localIso(entry?.schedule.next(at('2024-07-01T00:00:00Z')) ?? 0, 'Europe/Berlin')).toBe(
      '2024-07-01T08:00:00+02:00',
    );
  });
});

describe('app.periodic() and beatSchedule', () => {
  it('takes a task name, a Task or a signature, and merges with beatSchedule sorted by name', () => {
    const app = new Celeriac({
      broker: 'memory://periodic-a',
      beatSchedule: {
        'nightly-report': {
          task: 'reports.nightly',
          schedule: crontab({ hour: 3, minute: 0 }),
          args: ['eu'],
        },
      },
    });
    const tick = app.task('tick', (n: number) => n);
    app.periodic('tick', tick.s(1).set({ queue: 'fast', priority: 5 }), { every: 10 });
    app.periodic('by-task', tick, { cron: '*/5 * * * *', args: [2] });
    app.periodic('by-name', 'py.cleanup', {
      every: 60,
      kwargs: { dry: true },
      relative: true,
      options: { expires: 30 },
    });
    const entries = beatEntries(app);
    expect(entries.map((e) => e.name)).toEqual(['by-name', 'by-task', 'nightly-report', 'tick']);
    const [byName, byTask, nightly, fromSig] = entries;
    expect(fromSig).toMatchObject({ task: 'tick', args: [1], options: { queue: 'fast', priority: 5 } });
    expect(fromSig?.schedule.text).toBe('every 10s');
    expect(byTask).toMatchObject({ task: 'tick', args: [2] });
    expect(byName).toMatchObject({
      task: 'py.cleanup',
      kwargs: { dry: true },
      relative: true,
      options: { expires: 30 },
    });
    expect(nightly).toMatchObject({ task: 'reports.nightly', args: ['eu'] });
    expect(app.periodicEntries.get('by-name')).toEqual({
      task: 'py.cleanup',
      schedule: 60,
      kwargs: { dry: true },
      relative: true,
      options: { expires: 30 },
    });
  });

  it('checks its shape eagerly', () => {
    const app = new Celeriac({
      broker: 'memory://periodic-b',
      beatSchedule: { taken: { task: 't', schedule: 1 } },
    });
    expect(() => app.periodic('x', 't', { every: 1, cron: '* * * * *' })).toThrow(
      /exactly one of "every" \(seconds\) or "cron"/,
    );
    expect(() => app.periodic('x', 't', {})).toThrow(/exactly one of/);
    expect(() => app.periodic('x', 't', { evry: 1 } as never)).toThrow(
      /unknown option "evry" \(did you mean "every"\?\)/,
    );
    expect(() => app.periodic('x', 42 as never, { every: 1 })).toThrow(/a task name, a Task or a signature/);
    expect(() => app.periodic('taken', 't', { every: 1 })).toThrow("beat entry 'taken' is already defined");
    app.periodic('x', 't', { every: 1 });
    expect(() => app.periodic('x', 't', { every: 1 })).toThrow("beat entry 'x' is already defined");
    // The settings are frozen: entries come from the constructor or from periodic().
    expect(() => {
      (app.conf as { beatSchedule: unknown }).beatSchedule = {};
    }).toThrow(TypeError);
    // A bad expression given to periodic() fails when beat reads the entries, naming it.
    app.periodic('bad', 't', { cron: '61 * * * *' });
    expect(() => beatEntries(app)).toThrow("beat entry 'bad': schedule minute '61' is out of range 0-59");
  });
});
