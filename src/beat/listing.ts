/**
 * What `celeriac beat --list` prints: each entry with its next run times in the app's timezone, and its
 * last run from the shared store. The JSON shape is for Python and automation; times are ISO 8601 with
 * the zone's offset (`2026-03-29T03:00:00+02:00`), which Python's datetime.fromisoformat reads.
 */
import type { BeatEntry } from './entries.js';
import { upcoming } from './slots.js';

export interface ListedEntry {
  name: string;
  task: string;
  schedule: string;
  args: readonly unknown[];
  kwargs: Readonly<Record<string, unknown>>;
  options: Readonly<Record<string, unknown>>;
  relative: boolean;
  lastRun: string | null;
  next: string[];
}

/** `ms` as ISO 8601 local time in `timeZone`, with its offset. */
export function isoInZone(ms: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'longOffset',
  }).formatToParts(new Date(ms));
  const p = (t: string) => parts.find((x) => x.type === t)?.value ?? '';
  const off = p('timeZoneName').replace(/^GMT/, '') || '+00:00';
  const frac = ms % 1000 ? `.${String(((ms % 1000) + 1000) % 1000).padStart(3, '0')}` : '';
  return `${p('year')}-${p('month')}-${p('day')}T${p('hour')}:${p('minute')}:${p('second')}${frac}${off}`;
}

export function listEntries(
  entries: readonly BeatEntry[],
  lastRuns: ReadonlyMap<string, number>,
  timeZone: string,
  now: number,
  count = 5,
): ListedEntry[] {
  return entries.map((e) => {
    const last = lastRuns.get(e.name);
    const next = upcoming(e.schedule, last, now, count).map((t) => isoInZone(t, timeZone));
    return {
      name: e.name,
      task: e.task,
      schedule: e.schedule.text,
      args: e.args,
      kwargs: e.kwargs,
      options: e.options as Record<string, unknown>,
      relative: e.relative,
      lastRun: last === undefined ? null : isoInZone(last, timeZone),
      next,
    };
  });
}

export function formatListing(listed: readonly ListedEntry[], timeZone: string): string {
  if (!listed.length) return `No periodic entries (timezone ${timeZone}).\n`;
  const lines = [`Periodic entries (timezone ${timeZone}):`];
  for (const e of listed) {
    lines.push('', `${e.name}: ${e.task} ${e.schedule}`, `  last run: ${e.lastRun ?? 'never'}`);
    for (const n of e.next) lines.push(`  next: ${n}`);
  }
  return `${lines.join('\n')}\n`;
}
