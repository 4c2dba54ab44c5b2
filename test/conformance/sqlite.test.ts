import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { SqliteStore } from '../../src/brokers/sqlite/index.js';
import { VirtualBroker } from '../../src/brokers/virtual.js';
import { parseSqliteUrl } from '../../src/drivers/sqlite/options.js';
import { backendConformance } from './backend.js';
import { broadcastConformance } from './broadcast.js';
import { brokerConformance } from './broker.js';

// One temp directory for this file; every harness gets a fresh database file in it.
const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-conf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshTarget = () => parseSqliteUrl(new URL(`sqlite://${join(dir, `db-${++n}.db`)}`));

// Brokers and backends of one process share one connection per file...
// An in-process SqliteStore cannot be killed: only close() stops its owner heartbeat, and close()
// gives its messages back (the graceful case, which the suite tests for every broker).
const crash = {
  skip: 'sqlite: a holder must die as a process (its owner heartbeat); test/integration/sqlite-broker.test.ts SIGKILLs one',
};

brokerConformance('sqlite (shared connection)', async () => {
  const target = freshTarget();
  return { create: async () => new VirtualBroker(new SqliteStore(target)), crash };
});
backendConformance('sqlite (shared connection)', async () => {
  const target = freshTarget();
  return { create: async () => new SqliteBackend(target) };
});

// ...and with a connection each they see the file as separate processes do (wake-ups through the
// -wal watch and data_version, not in-process events).
brokerConformance('sqlite (a connection each)', async () => {
  const target = freshTarget();
  return { create: async () => new VirtualBroker(new SqliteStore(target, { ownConnection: true })), crash };
});
backendConformance('sqlite (a connection each)', async () => {
  const target = freshTarget();
  return { create: async () => new SqliteBackend(target, { ownConnection: true }) };
});

// Broadcast between two stores of one process (one shared connection), and as between processes.
const undecodable = (path: string) => async (_b: unknown, ex: { name: string }, rk: string) => {
  const db = new Database(path);
  try {
    db.prepare('INSERT INTO broadcasts (exchange, routing_key, message, expires_at) VALUES (?, ?, ?, ?)').run(
      ex.name,
      rk,
      'not JSON',
      Date.now() + 10_000,
    );
  } finally {
    db.close();
  }
};
{
  const target = freshTarget();
  broadcastConformance('sqlite (shared connection)', async () => new VirtualBroker(new SqliteStore(target)), {
    injectUndecodable: undecodable(target.path),
  });
}
{
  const target = freshTarget();
  broadcastConformance(
    'sqlite (a connection each)',
    async () => new VirtualBroker(new SqliteStore(target, { ownConnection: true })),
    { injectUndecodable: undecodable(target.path) },
  );
}
