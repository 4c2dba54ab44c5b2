/**
 * The beat store contract: what beat processes share so that each slot of a periodic entry is sent
 * exactly once, whichever beat is alive. One store per broker family (memory, Redis, SQLite; see
 * stores.ts for which one an app gets); each passes test/conformance/beat-store.ts.
 *
 * Promises every store keeps:
 *  - Lease: at most one holder at a time. `acquire` takes a free or expired lease (or refreshes one this
 *    token already holds); `renew` extends it only for its holder (fenced by the token); `release` frees
 *    it only for its holder. Expiry is judged by the store's clock (Redis: the server's; SQLite and
 *    memory: the host's), never by the holder's, so a paused holder cannot believe in a lease it lost.
 *  - Claim: `claim(token, entry, due)` succeeds at most once per (entry, due), ever (claims are kept at
 *    least `CLAIM_RETENTION_MS`; beyond that the last run still refuses any due time ≤ it), and only
 *    while `token` holds an unexpired lease; in the same atomic step it records `due` as the entry's
 *    last run. A former leader whose lease expired gets 'not-leader', so it cannot send a slot the new
 *    leader also sends.
 *    Claiming again with the token that claimed returns 'claimed' again, so a claim resent after a lost
 *    reply (Redis resends commands in flight after a reconnect) does not lose its slot.
 *  - Last runs: `lastRuns()` reads each entry's last claimed slot (or the baseline set by `baseline`).
 *  - Prune: `prune(token, keep)` drops the state of entries no longer in code (fenced).
 */

/** Result of a claim: sent by us, already claimed (by anyone, or not after the last run), or we lost the lease. */
export type ClaimResult = 'claimed' | 'taken' | 'not-leader';

export interface BeatStore {
  /** 'memory' | 'redis' | 'sqlite', for logs. */
  readonly kind: string;
  connect(): Promise<void>;
  /** Take the lease for `ttlMs` when it is free or expired (or already ours); true when `token` holds it now. */
  acquire(token: string, ttlMs: number): Promise<boolean>;
  /** Extend the lease by `ttlMs` from now when `token` still holds it; false when it was lost. */
  renew(token: string, ttlMs: number): Promise<boolean>;
  /** Free the lease when `token` holds it (a warm stop: the next beat takes over at once). */
  release(token: string): Promise<void>;
  /** The token holding an unexpired lease, or null. */
  holder(): Promise<string | null>;
  /** Each entry's last run (epoch ms of its last claimed slot, or its baseline). */
  lastRuns(): Promise<Map<string, number>>;
  /**
   * Record `at` as the last run of `entry` when it has none yet (the first time a leader sees it: slots
   * after `at` are then due, so a beat that dies before the first slot does not make its successor skip
   * it). Fenced like `claim`; false when `token` does not hold the lease.
   */
  baseline(token: string, entry: string, at: number): Promise<boolean>;
  /** Atomically claim slot (`entry`, `due`) and record it as the last run; see the promises above. */
  claim(token: string, entry: string, due: number): Promise<ClaimResult>;
  /** Drop the last runs of entries not in `keep` (their claims expire on their own); fenced. Returns the names dropped. */
  prune(token: string, keep: readonly string[]): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * How long a claim record is kept. The last run already refuses any due time at or before it, so the
 * records only matter if an entry's state is dropped and re-created (removed from code, then added back
 * within a day): keeping them a day costs one small key per slot and bounds the store's size.
 */
export const CLAIM_RETENTION_MS = 24 * 3600 * 1000;
