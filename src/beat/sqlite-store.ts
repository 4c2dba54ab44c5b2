/**
 * SQLite beat store: a lease row and the claims in the broker's own file (tables in
 * drivers/sqlite/schema.ts, v3), shared by every process on the machine through the same refcounted
 * connection as the broker. Each operation is one IMMEDIATE transaction (the write lock taken first), so
 * checking the lease and writing a claim cannot interleave with another process's takeover. Lease expiry
 * is judged by the host's clock, which every process sharing the file shares.
 */
import type { Database } from 'better-sqlite3';
import { acquireFile, type SqliteFile } from '../drivers/sqlite/file.js';
import type { SqliteTarget } from '../drivers/sqlite/options.js';
import { BrokerError } from '../errors.js';
import { type BeatStore, CLAIM_RETENTION_MS, type ClaimResult } from './store.js';

const LEASE = 'beat';
const notConnected = () => new BrokerError('beat store: not connected', { retryable: false });

function statements(db: Database) {
  return {
    lease: db.prepare<[string], { token: string; expires_at: number }>(
      'SELECT token, expires_at FROM beat_lease WHERE name = ?',
    ),
    setLease: db.prepare(
      'INSERT INTO beat_lease (name, token, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at',
    ),
    dropLease: db.prepare('DELETE FROM beat_lease WHERE name = ? AND token = ?'),
    lastRuns: db.prepare<[], { entry: string; last_run: number }>(
      'SELECT entry, last_run FROM beat_last_runs',
    ),
    lastRun: db.prepare<[string], number>('SELECT last_run FROM beat_last_runs WHERE entry = ?').pluck(),
    setLastRun: db.prepare(
      'INSERT INTO beat_last_runs (entry, last_run) VALUES (?, ?) ON CONFLICT (entry) DO UPDATE SET last_run = excluded.last_run',
    ),
    baseline: db.prepare('INSERT INTO beat_last_runs (entry, last_run) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    dropLastRun: db.prepare('DELETE FROM beat_last_runs WHERE entry = ?'),
    claimOwner: db
      .prepare<[string, number], string>('SELECT token FROM beat_claims WHERE entry = ? AND due = ?')
      .pluck(),
    insertClaim: db.prepare('INSERT INTO beat_claims (entry, due, token, claimed_at) VALUES (?, ?, ?, ?)'),
    expireClaims: db.prepare('DELETE FROM beat_claims WHERE claimed_at < ?'),
  };
}

export class SqliteBeatStore implements BeatStore {
  readonly kind = 'sqlite';
  readonly #target: SqliteTarget;
  readonly #now: () => number;
  readonly #own: boolean;
  #file: SqliteFile | null = null;
  #s: ReturnType<typeof statements> | null = null;

  /** `ownConnection`: a connection of its own instead of the process's shared one (tests act as two processes). */
  constructor(target: SqliteTarget, options: { now?: () => number; ownConnection?: boolean } = {}) {
    this.#target = target;
    this.#now = options.now ?? Date.now;
    this.#own = options.ownConnection ?? false;
  }

  async connect(): Promise<void> {
    if (this.#file) return;
    this.#file = await acquireFile(this.#target.path, this.#target.options, this.#own);
    this.#s = statements(this.#file.db);
  }

  /** One IMMEDIATE transaction, retried without blocking the loop while another process writes. */
  #tx<T>(fn: (s: ReturnType<typeof statements>, now: number) => T): Promise<T> {
    const file = this.#file;
    const s = this.#s;
    if (!file || !s) throw notConnected();
    return file.write(() => file.db.transaction(() => fn(s, this.#now())).immediate());
  }

  #holds(s: ReturnType<typeof statements>, token: string, now: number): boolean {
    const l = s.lease.get(LEASE);
    return !!l && l.token === token && l.expires_at > now;
  }

  acquire(token: string, ttlMs: number): Promise<boolean> {
    return this.#tx((s, now) => {
      const l = s.lease.get(LEASE);
      if (l && l.expires_at > now && l.token !== token) return false;
      s.setLease.run(LEASE, token, now + ttlMs);
      return true;
    });
  }

  renew(token: string, ttlMs: number): Promise<boolean> {
    return this.#tx((s, now) => {
      if (!this.#holds(s, token, now)) return false;
      s.setLease.run(LEASE, token, now + ttlMs);
      return true;
    });
  }

  async release(token: string): Promise<void> {
    await this.#tx((s) => s.dropLease.run(LEASE, token));
  }

  async holder(): Promise<string | null> {
    const s = this.#s;
    if (!s || !this.#file) throw notConnected();
    const l = this.#file.run(() => s.lease.get(LEASE));
    return l && l.expires_at > this.#now() ? l.token : null;
  }

  async lastRuns(): Promise<Map<string, number>> {
    const s = this.#s;
    if (!s || !this.#file) throw notConnected();
    const rows = this.#file.run(() => s.lastRuns.all());
    return new Map(rows.map((r) => [r.entry, r.last_run]));
  }

  baseline(token: string, entry: string, at: number): Promise<boolean> {
    return this.#tx((s, now) => {
      if (!this.#holds(s, token, now)) return false;
      s.baseline.run(entry, at);
      return true;
    });
  }

  claim(token: string, entry: string, due: number): Promise<ClaimResult> {
    return this.#tx((s, now): ClaimResult => {
      if (!this.#holds(s, token, now)) return 'not-leader';
      const owner = s.claimOwner.get(entry, due);
      if (owner !== undefined) return owner === token ? 'claimed' : 'taken';
      const last = s.lastRun.get(entry);
      if (last !== undefined && due <= last) return 'taken';
      s.expireClaims.run(now - CLAIM_RETENTION_MS);
      s.insertClaim.run(entry, due, token, now);
      s.setLastRun.run(entry, due);
      return 'claimed';
    });
  }

  prune(token: string, keep: readonly string[]): Promise<string[]> {
    const k = new Set(keep);
    return this.#tx((s, now) => {
      if (!this.#holds(s, token, now)) return [];
      const drop = s.lastRuns
        .all()
        .map((r) => r.entry)
        .filter((n) => !k.has(n));
      for (const n of drop) s.dropLastRun.run(n);
      return drop;
    });
  }

  async close(): Promise<void> {
    const f = this.#file;
    this.#file = null;
    this.#s = null;
    f?.release();
  }
}
