/**
 * SQLite broker and backend beyond the conformance suite: visibility-timeout restore of a SIGKILLed
 * process's messages (and none taken from a live holder), schema migrations and the errors for files it
 * must not touch, and sharing the file between connections and processes. Each test uses its own file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backends/registry.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { createBroker } from '../../src/brokers/registry.js';
import { BROADCAST_LIFETIME_MS } from '../../src/brokers/sqlite/broadcast.js';
import { createSqliteBroker, type SqliteStore } from '../../src/brokers/sqlite/index.js';
import type { VirtualBroker } from '../../src/brokers/virtual.js';
import { APPLICATION_ID, migrate, SCHEMA_VERSION } from '../../src/drivers/sqlite/schema.js';
import { BrokerError } from '../../src/errors.js';
import { Celeriac } from '../../src/index.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { buildMeta } from '../../src/protocol/result.js';
import { waitUntil } from '../helpers/services.js';

const root = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-it-'));
chmodSync(root, 0o755); // the read-only test opens files in it as another user
afterAll(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const freshPath = () => join(root, `t${++seq}.db`);
const urlOf = (path: string, query = '') => `sqlite://${path}${query}`;

const AGENT = new URL('../fixtures/sqlite/agent.ts', import.meta.url).pathname;
const children: ChildProcess[] = [];
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
});

/** Start the agent fixture in another process; resolves with its first stdout line. */
function agent(args: string[], opts: { uid?: number; gid?: number } = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', AGENT, ...args], { ...opts, stdio: 'pipe' });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (d) => {
    err += String(d);
  });
  const line = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += String(d);
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`agent exited (${code}) before answering: ${err}`)));
  });
  return { child, line };
}

function message(n: number): WireMessage {
  return {
    body: Buffer.from(JSON.stringify([[n], {}, {}])),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { id: `m-${n}` },
    properties: { priority: 0 },
  };
}
const numberOf = (d: Delivery) => (JSON.parse(d.message.body.toString()) as [[number]])[0][0];

async function broker(url: string): Promise<VirtualBroker> {
  const b = createSqliteBroker(new URL(url));
  await b.connect();
  open.push(b);
  return b;
}

async function connectError(url: string): Promise<BrokerError> {
  const b = createSqliteBroker(new URL(url));
  const err = await b.connect().then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof BrokerError)) throw new Error(`expected a BrokerError, got ${String(err)}`);
  return err;
}

describe('sqlite: visibility timeout', () => {
  it("returns a SIGKILLed process's unacked messages after the timeout, marked redelivered", async () => {
    const path = freshPath();
    const url = urlOf(path, '?visibility_timeout=1');
    const producer = await broker(url);
    await producer.publishMany([0, 1, 2].map((n) => ({ queue: 'q', message: message(n) })));
    const holder = agent(['hold', url, 'q', '3']);
    expect(await holder.line).toBe('held 3');
    expect(await producer.size('q')).toBe(0);
    holder.child.kill('SIGKILL');
    await new Promise((r) => holder.child.once('exit', r));

    const got: Delivery[] = [];
    await producer.consume(['q'], (d) => got.push(d), { prefetch: 0 });
    await waitUntil(() => got.length === 3, 15_000, 'the 3 restored messages');
    expect(got.map(numberOf).sort()).toEqual([0, 1, 2]);
    expect(got.every((d) => d.redelivered)).toBe(true);
    await Promise.all(got.map((d) => d.ack()));
    expect((producer.store as SqliteStore).stats().restored).toBe(3);
  });

  it('never takes a message from a live holder, however long it holds it (an ETA task)', async () => {
    const path = freshPath();
    const url = urlOf(path, '?visibility_timeout=1');
    const a = createSqliteBroker(new URL(url));
    const b = createSqliteBroker(new URL(url));
    // Two connections, as two worker processes.
    await a.connect();
    open.push(a);
    await b.connect();
    open.push(b);
    await a.publish('eta', message(7));
    const heldByA: Delivery[] = [];
    await a.consume(['eta'], (d) => heldByA.push(d), { prefetch: 1 });
    await waitUntil(() => heldByA.length === 1, 10_000, 'A holds the message');
    const gotByB: Delivery[] = [];
    await b.consume(['eta'], (d) => gotByB.push(d), { prefetch: 1 });
    // Let B run restore scans over a span of three visibility timeouts while A keeps the message.
    const bStore = b.store as SqliteStore;
    const until = Date.now() + 3000;
    await waitUntil(() => Date.now() > until && bStore.stats().restoreScans >= 3, 20_000, 'B scanning');
    expect(gotByB).toHaveLength(0);
    expect(bStore.stats().restored).toBe(0);
    await heldByA[0]?.ack();
    expect(await a.size('eta')).toBe(0);
  });
});

describe('sqlite: schema and files it must not touch', () => {
  it('creates a fresh file at the current schema version, marked as Celeriac’s', async () => {
    const path = freshPath();
    await (await broker(urlOf(path))).close();
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION),
    );
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    // Opening again is a no-op migration.
    await (await broker(urlOf(path))).close();
  });

  it('migrates a v3 file (before broadcast) to the current version, keeping its messages', async () => {
    const path = freshPath();
    const v3 = new Database(path);
    v3.pragma('journal_mode = WAL');
    migrate(v3, path, 3);
    v3.prepare(
      "INSERT INTO messages (queue, priority, created_at, content_type, content_encoding, headers, properties, body) VALUES ('q', 0, 0, 'application/json', 'utf-8', '{}', '{}', ?)",
    ).run(Buffer.from('[[1], {}, {}]'));
    expect(v3.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe('3');
    v3.close();
    const b = await broker(urlOf(path));
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION),
    );
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(4);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['broadcasts', 'reply_bindings', 'replies']));
    db.close();
    expect(await b.size('q')).toBe(1);
    const got: string[] = [];
    const ex = { name: 'celeryev', type: 'topic' } as const;
    const sub = await b.broadcast!.subscribe(ex, '#', (m) => got.push(m.routingKey), { queue: 'celeryev.x' });
    await b.broadcast!.publish(ex, 'worker.online', message(1));
    await waitUntil(() => got.length === 1, 10_000, 'the event on the migrated file');
    await sub.close();
  });

  it('a publisher deletes expired broadcast rows, even with nobody subscribed', async () => {
    const path = freshPath();
    const b = await broker(urlOf(path));
    const raw = new Database(path);
    raw
      .prepare('INSERT INTO broadcasts (exchange, routing_key, message, expires_at) VALUES (?, ?, ?, ?)')
      .run('celeryev', 'worker.old', '{}', Date.now() - 1);
    const before = Date.now();
    await b.broadcast!.publish({ name: 'celeryev', type: 'topic' }, 'worker.new', message(1));
    const rows = raw.prepare('SELECT routing_key, expires_at FROM broadcasts').all() as {
      routing_key: string;
      expires_at: number;
    }[];
    raw.close();
    expect(rows.map((r) => r.routing_key)).toEqual(['worker.new']);
    expect(rows[0]?.expires_at).toBeGreaterThanOrEqual(before + BROADCAST_LIFETIME_MS);
  });

  it('refuses a file written by a newer schema version, and leaves it untouched', async () => {
    const path = freshPath();
    await (await broker(urlOf(path))).close();
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
    db.close();
    const err = await connectError(urlOf(path));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/written by a newer Celeriac \(schema version \d+.*Upgrade Celeriac/);
    const after = new Database(path, { readonly: true });
    expect(after.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION + 1),
    );
    after.close();
  });

  it('refuses a file that is not SQLite, naming it, without writing to it', async () => {
    const path = freshPath();
    const junk = Buffer.from('this is a text file, not a database\n'.repeat(200));
    writeFileSync(path, junk);
    const err = await connectError(urlOf(path));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`"${path}" is corrupt or is not a SQLite database`);
    expect(err.message).toMatch(/move it aside/);
    expect(Buffer.compare(readFileSync(path), junk)).toBe(0);
  });

  it('refuses a SQLite file with corrupt pages', async () => {
    const path = freshPath();
    const db = new Database(path);
    db.exec('CREATE TABLE filler (x)');
    const insert = db.prepare('INSERT INTO filler VALUES (?)');
    for (let i = 0; i < 50; i++) insert.run('x'.repeat(1000));
    db.close();
    const bytes = readFileSync(path);
    bytes.fill(0x55, 100, 8192); // keep the 100-byte header, trash the schema page and more
    writeFileSync(path, bytes);
    const err = await connectError(urlOf(path));
    expect(err.message).toMatch(/is corrupt or is not a SQLite database \(SQLITE_CORRUPT/);
  });

  it("refuses another application's database", async () => {
    const path = freshPath();
    const db = new Database(path);
    db.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)');
    db.close();
    const err = await connectError(urlOf(path));
    expect(err.message).toMatch(/holds tables of another application \(e\.g\. "customers"\)/);
  });

  it('says the directory does not exist', async () => {
    const path = join(root, 'no-such-dir', 'x.db');
    const err = await connectError(urlOf(path));
    expect(err.message).toMatch(/the directory .*no-such-dir does not exist\. Create it/);
  });

  it('says what to do in a read-only location', async () => {
    const dir = join(root, `ro-${++seq}`);
    mkdirSync(dir);
    const path = join(dir, 'x.db');
    await (await broker(urlOf(path))).close(); // an existing file in a directory then made read-only
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    chmodSync(dir, 0o555);
    chmodSync(path, 0o444);
    try {
      // Root ignores permissions: then open the file from a process running as nobody.
      const asRoot = process.getuid?.() === 0;
      type Result = { code?: string; retryable?: boolean; message?: string; ok?: boolean };
      const tryOpen = async (p: string): Promise<Result> => {
        if (asRoot) return JSON.parse(await agent(['open', urlOf(p)], { uid: 65534, gid: 65534 }).line);
        const err = await connectError(urlOf(p));
        return { code: err.code, retryable: err.retryable, message: err.message };
      };
      const existing = await tryOpen(path);
      expect(existing.code).toBe('E_BROKER');
      expect(existing.retryable).toBe(false);
      expect(existing.message).toContain(`Cannot write "${path}"`);
      expect(existing.message).toMatch(/fix the permissions, or point the URL at a writable location/);
      const created = await tryOpen(join(dir, 'new.db'));
      expect(created.message).toMatch(/permission denied on its directory .*Fix the permissions/);
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  it('says the file is locked when another program holds the write lock at connect', async () => {
    const path = freshPath();
    const locker = new Database(path);
    locker.exec('BEGIN EXCLUSIVE');
    try {
      const err = await connectError(urlOf(path, '?busy_timeout=100'));
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/is locked by another process .*busy_timeout=100 ms.*Close that program/);
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
    }
  });

  it('fails a publish with a retryable error while the lock is held, and works once it is released', async () => {
    const path = freshPath();
    const b = await broker(urlOf(path, '?busy_timeout=50'));
    const locker = new Database(path);
    locker.exec('BEGIN IMMEDIATE');
    const err = await b.publish('q', message(1)).then(
      () => null,
      (e: unknown) => e,
    );
    locker.exec('ROLLBACK');
    locker.close();
    expect(err).toBeInstanceOf(BrokerError);
    expect((err as BrokerError).retryable).toBe(true);
    await b.publish('q', message(2));
    expect(await b.size('q')).toBe(1);
  });
});

describe('sqlite: sharing the file', () => {
  it('broker and result backend of one URL share a connection; each closes on its own', async () => {
    const path = freshPath();
    const b = await createBroker(urlOf(path));
    const r = await createBackend(urlOf(path, '?visibility_timeout=30'));
    await b.connect();
    await r.connect();
    expect([b.transport, r.transport]).toEqual(['sqlite', 'sqlite']);
    await b.publish('q', message(1));
    await b.close();
    const meta = buildMeta('t1', 'SUCCESS', 1, null, new Date());
    await r.store(meta, { expires: 60 });
    expect((await r.get('t1'))?.result).toBe(1);
    await r.close();
    // Both released: the file is closed and can be removed and recreated.
    rmSync(path);
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    await (await broker(urlOf(path))).close();
  });

  it('an app with a sqlite:// broker and no result backend stores results in the same file', async () => {
    const path = freshPath();
    const app = new Celeriac({ broker: urlOf(path), backend: null });
    try {
      const backend = await app.backend();
      expect(backend.transport).toBe('sqlite');
      await backend.store(buildMeta('t2', 'SUCCESS', 'ok', null, new Date()), { expires: 60 });
    } finally {
      await app.close();
    }
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT status FROM results WHERE task_id = 't2'").pluck().get()).toBe('SUCCESS');
    db.close();
  });

  it('a consumer is woken by another process publishing', async () => {
    const path = freshPath();
    const url = urlOf(path);
    const consumer = await broker(url);
    const got: Delivery[] = [];
    await consumer.consume(['x'], (d) => got.push(d), { prefetch: 0 });
    const producer = agent(['publish', url, 'x', '200']);
    expect(await producer.line).toBe('published 200');
    await waitUntil(() => got.length === 200, 10_000, '200 deliveries');
    expect(got.map(numberOf)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await Promise.all(got.map((d) => d.ack()));
  });
});
