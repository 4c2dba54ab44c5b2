/**
 * The revoked task ids of one worker, as Celery's `worker_state.revoked` (a LimitedSet): each id with
 * when it was revoked, at most `max` of them (the oldest go first) and each for `expires` seconds. Celery
 * purges expired ids only now and then (on add at the cap, on mingle, at boot and save), so an id can
 * outlive its expiry there; here a lookup also checks the age of the id it finds, so expiry is exact.
 *
 * Time is epoch milliseconds from an injected clock (tests drive it by hand). The map is kept in
 * revoke-time order (re-adding an id moves it to the end, as LimitedSet's add resets its time), so
 * purging and capping only look at the front.
 */
import type { TimeoutClock } from '../util/clock.js';
import { realTimeoutClock } from '../util/clock.js';

/** Celery's REVOKES_MAX and REVOKE_EXPIRES (seconds). */
export const REVOKES_MAX = 50_000;
export const REVOKE_EXPIRES = 10_800;

/**
 * Seconds as a number Python's json reads as a float: Celery's LimitedSet.update refuses an int
 * timestamp ("Expecting float timestamp"), and JSON writes 1764588840.0 as 1764588840.
 */
export function wireSeconds(ms: number): number {
  const s = ms / 1000;
  return Number.isInteger(s) ? s + 0.001 : s;
}

/**
 * Python Celery stamps revoked ids with `time.monotonic()` (seconds since its host booted), not epoch
 * time, and sends those in mingle's `hello`. A stamp before 2001 cannot be an epoch time we would have
 * kept: it is a monotonic one, and counts as revoked now (the sender's clock means nothing here).
 */
const EPOCH_FLOOR_S = 978_307_200;

export class RevokedSet {
  readonly max: number;
  /** Seconds; 0 keeps ids until the cap pushes them out. */
  readonly expires: number;
  readonly #clock: Pick<TimeoutClock, 'now'>;
  readonly #ids = new Map<string, number>();

  constructor(options: { max?: number; expires?: number; clock?: Pick<TimeoutClock, 'now'> } = {}) {
    this.max = options.max ?? REVOKES_MAX;
    this.expires = options.expires ?? REVOKE_EXPIRES;
    this.#clock = options.clock ?? realTimeoutClock;
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Revoke `id` now (again: its time is reset, as in Celery). */
  add(id: string): void {
    this.#ids.delete(id);
    this.#ids.set(id, this.#clock.now());
    this.purge();
  }

  has(id: string): boolean {
    if (this.#ids.size === 0) return false; // the common case: nothing revoked, one check per task
    const at = this.#ids.get(id);
    if (at === undefined) return false;
    if (this.expires > 0 && at + this.expires * 1000 <= this.#clock.now()) {
      this.#ids.delete(id);
      return false;
    }
    return true;
  }

  /** Drop expired ids, then the oldest beyond the cap. */
  purge(): void {
    const ids = this.#ids;
    if (this.expires > 0) {
      const cutoff = this.#clock.now() - this.expires * 1000;
      for (const [id, at] of ids) {
        if (at > cutoff) break;
        ids.delete(id);
      }
    }
    if (this.max > 0 && ids.size > this.max) {
      let extra = ids.size - this.max;
      for (const id of ids.keys()) {
        if (extra-- <= 0) break;
        ids.delete(id);
      }
    }
  }

  /** Ids oldest first (Celery's `inspect revoked` order). */
  ids(): string[] {
    this.purge();
    return [...this.#ids.keys()];
  }

  /** Id → epoch milliseconds, oldest first. */
  entries(): [string, number][] {
    this.purge();
    return [...this.#ids];
  }

  /**
   * Add ids revoked elsewhere (another worker's `hello`, the state file) with their times: epoch seconds,
   * or Celery's `[seconds, id]` pairs (its `_data` values). A known id keeps the later of the two times.
   * Malformed entries are skipped and counted, never thrown: one bad peer must not stop a worker.
   */
  merge(input: unknown, unit: 's' | 'ms' = 's'): { added: number; skipped: number } {
    let added = 0;
    let skipped = 0;
    if (typeof input !== 'object' || input === null) return { added, skipped };
    const now = this.#clock.now();
    const all = new Map(this.#ids);
    const pairs: [string, unknown][] = Array.isArray(input)
      ? input.map((id) => [String(id), now]) // a bare list of ids: revoked now
      : Object.entries(input);
    for (const [id, raw] of pairs) {
      let t = Array.isArray(raw) ? raw[0] : raw;
      if (typeof t !== 'number' || !Number.isFinite(t) || !id) {
        skipped++;
        continue;
      }
      if (unit === 's') t = t < EPOCH_FLOOR_S ? now : t * 1000;
      const known = all.get(id);
      if (known === undefined) added++;
      if (known === undefined || known < t) all.set(id, Math.min(t as number, now));
    }
    // Rebuilt in time order: merged ids may be older than ours.
    const sorted = [...all].sort((a, b) => a[1] - b[1]);
    this.#ids.clear();
    for (const [id, at] of sorted) this.#ids.set(id, at);
    this.purge();
    return { added, skipped };
  }

  /** Id → epoch seconds (floats), as `hello` replies carry them. */
  toWire(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, at] of this.entries()) out[id] = wireSeconds(at);
    return out;
  }

  clear(): void {
    this.#ids.clear();
  }
}
