/**
 * The SQLite file's schema, versioned by numbered migrations. `meta.schema_version` records the last one
 * applied; opening a file applies the missing ones in one transaction, and refuses (without writing) a
 * file written by a newer Celeriac or one that belongs to another application.
 *
 * Tables (v1):
 *  - messages: one row per message; `state` is 'ready' or 'unacked'. Ready rows are served by
 *    (priority, redelivered first, id): 0 is the highest priority, as kombu on Redis, and a requeued or
 *    restored message goes to the front of its priority level. Unacked rows name their `owner`.
 *  - owners: one row per broker connection holding messages, with its heartbeat; the unacked messages of
 *    an owner silent for the visibility timeout go back to their queues.
 *  - results, result_groups: the result backend (Celery's metas as JSON, with an expiry time).
 * Tables (v2):
 *  - chords, chord_parts: chord counters. `chords` holds a header's size; `chord_parts` one row per
 *    finished header task (keyed by task id, so a redelivered part counts once). The process whose
 *    transaction counts the last part deletes both and fires the body.
 * Tables (v3), beat (beat/sqlite-store.ts):
 *  - beat_lease: one row per lease name, the leader's token and its expiry (epoch ms, the host's clock:
 *    every process sharing a file runs on one machine).
 *  - beat_last_runs: each entry's last claimed slot (or its baseline), epoch ms.
 *  - beat_claims: one row per claimed slot (entry, due), deleted a day later.
 * Tables (v4), broadcast (brokers/sqlite/broadcast.ts: events, remote control and their replies):
 *  - broadcasts: one row per published event or control message (exchange, routing key, the message as
 *    JSON), read by every subscriber that was there when it was committed (each tracks the last id it
 *    saw) and deleted once `expires_at` (a few seconds) is past.
 *  - reply_bindings: the reply queues open now, (exchange, routing key) → queue, with an expiry their
 *    holder keeps pushing forward (a crashed client's binding lapses, as an AMQP queue's x-expires).
 *  - replies: one row per reply sent to a bound queue, deleted when read or when the queue is closed.
 */
import type { Database } from 'better-sqlite3';
import { BrokerError } from '../../errors.js';

/** "CELR", written to the file header so that other tools (and we) can tell whose file it is. */
export const APPLICATION_ID = 0x43454c52;

interface Migration {
  version: number;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a late ack cannot hit a newer message
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL,
        redelivered INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'unacked')),
        owner TEXT,
        taken_at INTEGER,
        created_at INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        content_encoding TEXT NOT NULL,
        headers TEXT NOT NULL,
        properties TEXT NOT NULL,
        body BLOB NOT NULL
      );
      CREATE INDEX messages_ready ON messages (queue, priority, redelivered DESC, id) WHERE state = 'ready';
      CREATE INDEX messages_unacked ON messages (owner) WHERE state = 'unacked';
      CREATE TABLE owners (
        owner TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE results (
        task_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        meta TEXT NOT NULL,
        expires_at INTEGER
      );
      CREATE INDEX results_expiry ON results (expires_at) WHERE expires_at IS NOT NULL;
      CREATE TABLE result_groups (
        group_id TEXT PRIMARY KEY,
        task_ids TEXT NOT NULL,
        expires_at INTEGER
      );
      CREATE INDEX result_groups_expiry ON result_groups (expires_at) WHERE expires_at IS NOT NULL;
    `,
  },
  {
    version: 2,
    sql: `
      CREATE TABLE chords (
        group_id TEXT PRIMARY KEY,
        size INTEGER,
        expires_at INTEGER
      );
      CREATE INDEX chords_expiry ON chords (expires_at) WHERE expires_at IS NOT NULL;
      CREATE TABLE chord_parts (
        group_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        idx REAL NOT NULL,
        state TEXT NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (group_id, task_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    sql: `
      CREATE TABLE beat_lease (
        name TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE beat_last_runs (
        entry TEXT PRIMARY KEY,
        last_run INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE beat_claims (
        entry TEXT NOT NULL,
        due INTEGER NOT NULL,
        token TEXT NOT NULL,
        claimed_at INTEGER NOT NULL,
        PRIMARY KEY (entry, due)
      ) WITHOUT ROWID;
      CREATE INDEX beat_claims_age ON beat_claims (claimed_at);
    `,
  },
  {
    version: 4,
    sql: `
      CREATE TABLE broadcasts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a subscriber's cursor only moves forward
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        message TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX broadcasts_expiry ON broadcasts (expires_at);
      CREATE TABLE reply_bindings (
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        queue TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (exchange, routing_key, queue)
      ) WITHOUT ROWID;
      CREATE INDEX reply_bindings_queue ON reply_bindings (queue);
      CREATE TABLE replies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        message TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX replies_queue ON replies (queue, id);
      CREATE INDEX replies_expiry ON replies (expires_at);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/** The schema version recorded in the file (0: a new, empty file). */
export function schemaVersion(db: Database): number {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (!hasMeta) return 0;
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
    | { value: string }
    | undefined;
  return row ? Number(row.value) : 0;
}

/**
 * Refuse files that are not ours or are too new; apply the missing migrations. `upTo` stops at an older
 * version (tests make files as an older Celeriac wrote them).
 */
export function migrate(db: Database, path: string, upTo = SCHEMA_VERSION): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw new BrokerError(
      `"${path}" is a SQLite database of another application (application_id 0x${appId.toString(16)}); ` +
        'Celeriac will not write to it. Point the URL at a file of its own, e.g. sqlite://./celeriac.db',
      { retryable: false },
    );
  }
  // A first read, outside any transaction, so that a newer file is refused before anything is written.
  checkNotNewer(schemaVersion(db), path);
  if (schemaVersion(db) >= upTo) return;
  db.transaction(() => {
    const current = schemaVersion(db); // again under the write lock: another process may have migrated
    checkNotNewer(current, path);
    if (current === 0) {
      const other = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1")
        .get() as { name: string } | undefined;
      if (other) {
        throw new BrokerError(
          `"${path}" already holds tables of another application (e.g. "${other.name}"); Celeriac will ` +
            'not write to it. Point the URL at a file of its own, e.g. sqlite://./celeriac.db',
          { retryable: false },
        );
      }
      db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
      db.pragma(`application_id = ${APPLICATION_ID}`);
    }
    if (current >= upTo) return;
    for (const m of MIGRATIONS) {
      if (m.version > current && m.version <= upTo) db.exec(m.sql);
    }
    db.prepare(
      "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(String(upTo));
  }).immediate();
}

function checkNotNewer(version: number, path: string): void {
  if (version > SCHEMA_VERSION) {
    throw new BrokerError(
      `"${path}" was written by a newer Celeriac (schema version ${version}; this one knows up to ` +
        `${SCHEMA_VERSION}). Upgrade Celeriac (npm install celeriac@latest) in every process that uses ` +
        'this file; it was left untouched.',
      { retryable: false },
    );
  }
}
