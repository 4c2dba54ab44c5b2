/**
 * Slot arithmetic of the beat loop, pure: which slot is due after a last run, and the task id a slot's
 * message carries.
 */
import { createHash } from 'node:crypto';
import type { Schedule } from './schedule.js';

/**
 * The latest slot in (last, now], or null when none is due yet. Several slots missed (beat down, a
 * takeover gap) collapse into this one, which is sent once, as Celery does. A plain interval's slots are
 * `last + k·every` (anchored on the previous due time, so they never drift): the latest is arithmetic.
 * Cron and relative slots are fixed instants and `next` is non-decreasing, so a binary search over
 * `after` finds the latest in ~45 calls however long the gap: no walk over every missed slot.
 */
export function dueSlot(schedule: Schedule, last: number, now: number): number | null {
  const first = schedule.next(last);
  if (first > now) return null;
  if (schedule.every) return first + Math.floor((now - first) / schedule.every) * schedule.every;
  let lo = last; // next(lo) <= now
  let hi = now; // next(hi) > now
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (schedule.next(mid) <= now) lo = mid;
    else hi = mid;
  }
  return schedule.next(lo);
}

/** Where a new entry's slots start: `now` rounded down to a whole second. */
export const baselineOf = (now: number): number => Math.floor(now / 1000) * 1000;

/**
 * The next `n` slots that will run after `now`, on the chain from the entry's last run (or, for an entry
 * never run, from the baseline a leader would give it now): what `beat --list` prints.
 */
export function upcoming(schedule: Schedule, last: number | undefined, now: number, n: number): number[] {
  const start = last ?? baselineOf(now);
  let t = dueSlot(schedule, start, now) ?? start;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    t = schedule.next(t);
    if (!Number.isFinite(t)) break;
    out.push(t);
  }
  return out;
}

/** RFC 4122 name-based UUID version 5 (SHA-1) in the URL namespace, as Python's uuid.uuid5(NAMESPACE_URL, name). */
export function uuid5Url(name: string): string {
  const ns = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The task id of slot (`entry`, `due`): uuid5(NAMESPACE_URL, "celeriac-beat:<due ms>:<entry>"). Every beat
 * computes the same id for a slot, so were a slot ever sent twice the copies would share one id (one
 * result, and visible as a duplicate), and anyone can tell from an id which slot it was.
 */
export function slotTaskId(entry: string, due: number): string {
  return uuid5Url(`celeriac-beat:${due}:${entry}`);
}
