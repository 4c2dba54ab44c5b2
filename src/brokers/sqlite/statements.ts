/**
 * The SQL of the SQLite broker, prepared once per connection: every statement on the `messages` and
 * `owners` tables (drivers/sqlite/schema.ts), and the three multi-statement transactions: insert a
 * batch, take (pick the ready rows of several queues in priority order, claim them, beat the owner's
 * heartbeat with the claim), restore (requeue the messages of owners silent for the visibility
 * timeout). The store (./index.ts) decides when each runs.
 */
import { hostname } from 'node:os';
import type { Statement, Transaction } from 'better-sqlite3';
import type { SqliteFile } from '../../drivers/sqlite/file.js';
import type { WireMessage } from '../../protocol/message.js';
import { priorityBucket } from '../virtual.js';

/** This host, written beside each owner's heartbeat. */
export const HOST = hostname();

export type Item = { queue: string; message: WireMessage };
interface Candidate {
  id: number;
  priority: number;
  redelivered: number;
}
export interface Row {
  id: number;
  queue: string;
  redelivered: number;
  content_type: unknown;
  content_encoding: unknown;
  headers: unknown;
  properties: unknown;
  body: unknown;
}

/** The broker's prepared statements, named for what each does (the SQL is in prepare()). */
export type Statements = Record<
  | 'insert'
  | 'hasReady'
  | 'readyIds'
  | 'claim'
  | 'beat'
  | 'remove'
  | 'requeue'
  | 'dropOwner'
  | 'staleOwner'
  | 'orphan'
  | 'restore'
  | 'dropStale'
  | 'size'
  | 'purge',
  Statement
>;

export function prepare(file: SqliteFile): Statements {
  const db = file.db;
  return {
    insert: db.prepare(
      'INSERT INTO messages (queue, priority, created_at, content_type, content_encoding, headers, properties, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    hasReady: db.prepare("SELECT 1 FROM messages WHERE state = 'ready' AND queue = ? LIMIT 1").pluck(),
    readyIds: db.prepare(
      "SELECT id, priority, redelivered FROM messages WHERE state = 'ready' AND queue = ? ORDER BY priority, redelivered DESC, id LIMIT ?",
    ),
    claim: db.prepare(
      "UPDATE messages SET state = 'unacked', owner = ?, taken_at = ? WHERE id = ? AND state = 'ready' RETURNING id, queue, redelivered, content_type, content_encoding, headers, properties, body",
    ),
    beat: db.prepare(
      'INSERT INTO owners (owner, host, pid, heartbeat_at) VALUES (?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at',
    ),
    // Acked or discarded: the message was handled, so it goes whoever holds it now, except that a
    // message another live owner took after a restore stays with that owner (it will ack it itself).
    remove: db.prepare("DELETE FROM messages WHERE id = ? AND (owner = ? OR state = 'ready')"),
    requeue: db.prepare(
      "UPDATE messages SET state = 'ready', owner = NULL, taken_at = NULL, redelivered = 1 WHERE id = ? AND owner = ? AND state = 'unacked'",
    ),
    dropOwner: db.prepare('DELETE FROM owners WHERE owner = ?'),
    staleOwner: db.prepare('SELECT 1 FROM owners WHERE heartbeat_at < ? AND owner <> ? LIMIT 1').pluck(),
    orphan: db
      .prepare(
        "SELECT 1 FROM messages WHERE state = 'unacked' AND taken_at < ? AND (owner IS NULL OR owner NOT IN (SELECT owner FROM owners)) LIMIT 1",
      )
      .pluck(),
    restore: db.prepare(
      `UPDATE messages SET state = 'ready', owner = NULL, taken_at = NULL, redelivered = 1
       WHERE state = 'unacked' AND taken_at < :cutoff AND owner IS NOT :me
         AND (owner IS NULL OR owner NOT IN (SELECT owner FROM owners WHERE heartbeat_at >= :cutoff))`,
    ),
    dropStale: db.prepare('DELETE FROM owners WHERE heartbeat_at < ? AND owner <> ?'),
    size: db.prepare("SELECT count(*) FROM messages WHERE state = 'ready' AND queue = ?").pluck(),
    purge: db.prepare("DELETE FROM messages WHERE state = 'ready' AND queue = ?"),
  };
}

export interface Transactions {
  insert: Transaction<(items: readonly Item[], now: number) => void>;
  take: Transaction<(queues: readonly string[], max: number, now: number) => Row[]>;
  restore: Transaction<(cutoff: number) => number>;
}

/** `owner`: the store that claims, whose heartbeat goes in with each claim. */
export function transactions(file: SqliteFile, st: Statements, owner: string): Transactions {
  const db = file.db;
  return {
    insert: db.transaction((items: readonly Item[], now: number) => {
      for (const { queue, message: m } of items) {
        const priority = priorityBucket(m.properties.priority);
        const headers = JSON.stringify(m.headers);
        const props = JSON.stringify(m.properties);
        st.insert.run(queue, priority, now, m.contentType, m.contentEncoding, headers, props, m.body);
      }
    }),
    take: db.transaction((queues: readonly string[], max: number, now: number) => {
      const candidates: Candidate[] = [];
      for (const q of queues) candidates.push(...(st.readyIds.all(q, max) as Candidate[]));
      if (queues.length > 1) {
        candidates.sort((a, b) => a.priority - b.priority || b.redelivered - a.redelivered || a.id - b.id);
      }
      const rows: Row[] = [];
      for (const c of candidates.slice(0, max)) {
        const row = st.claim.get(owner, now, c.id) as Row | undefined;
        if (row) rows.push(row);
      }
      // The heartbeat goes in with the claim, so no message is ever unacked by an owner without one.
      if (rows.length) st.beat.run(owner, HOST, process.pid, now);
      return rows;
    }),
    restore: db.transaction((cutoff: number) => {
      const n = st.restore.run({ cutoff, me: owner }).changes;
      st.dropStale.run(cutoff, owner);
      return n;
    }),
  };
}
