/**
 * In-process beat store (memory:// brokers, unit tests). Every Beat of a process that uses the same
 * instance shares one lease, so tests run several "beats" against it with an injected clock.
 */
import { type BeatStore, CLAIM_RETENTION_MS, type ClaimResult } from './store.js';

export class MemoryBeatStore implements BeatStore {
  readonly kind = 'memory';
  readonly #now: () => number;
  #lease: { token: string; until: number } | null = null;
  readonly #last = new Map<string, number>();
  /** `${entry}\0${due}` → who claimed it, when. */
  readonly #claims = new Map<string, { token: string; at: number }>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async connect(): Promise<void> {}

  #holds(token: string): boolean {
    return this.#lease !== null && this.#lease.token === token && this.#lease.until > this.#now();
  }

  async acquire(token: string, ttlMs: number): Promise<boolean> {
    const l = this.#lease;
    if (l && l.until > this.#now() && l.token !== token) return false;
    this.#lease = { token, until: this.#now() + ttlMs };
    return true;
  }

  async renew(token: string, ttlMs: number): Promise<boolean> {
    if (!this.#holds(token)) return false;
    this.#lease = { token, until: this.#now() + ttlMs };
    return true;
  }

  async release(token: string): Promise<void> {
    if (this.#lease?.token === token) this.#lease = null;
  }

  async holder(): Promise<string | null> {
    const l = this.#lease;
    return l && l.until > this.#now() ? l.token : null;
  }

  async lastRuns(): Promise<Map<string, number>> {
    return new Map(this.#last);
  }

  async baseline(token: string, entry: string, at: number): Promise<boolean> {
    if (!this.#holds(token)) return false;
    if (!this.#last.has(entry)) this.#last.set(entry, at);
    return true;
  }

  async claim(token: string, entry: string, due: number): Promise<ClaimResult> {
    if (!this.#holds(token)) return 'not-leader';
    const now = this.#now();
    for (const [k, c] of this.#claims) if (c.at < now - CLAIM_RETENTION_MS) this.#claims.delete(k);
    const key = `${entry}\0${due}`;
    const mine = this.#claims.get(key);
    if (mine) return mine.token === token ? 'claimed' : 'taken';
    const last = this.#last.get(entry);
    if (last !== undefined && due <= last) return 'taken';
    this.#claims.set(key, { token, at: now });
    this.#last.set(entry, due);
    return 'claimed';
  }

  async prune(token: string, keep: readonly string[]): Promise<string[]> {
    if (!this.#holds(token)) return [];
    const k = new Set(keep);
    const dropped = [...this.#last.keys()].filter((n) => !k.has(n));
    for (const n of dropped) this.#last.delete(n);
    return dropped; // claims stay until they expire (store.ts, CLAIM_RETENTION_MS)
  }

  async close(): Promise<void> {}
}
