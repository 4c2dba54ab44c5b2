/**
 * Chaos: bad input (issue 17). The corpus (./corpus.ts: message-level damage plus each transport's own
 * envelope-level damage, ≥ 60 per transport) is sent to a live worker interleaved with valid tasks, on
 * SQLite, Redis and RabbitMQ. Then: every rejected message is in the dead-letter queue with a reason (and
 * has a FAILURE result when an id can be read), every 'fails' case has a FAILURE, every valid task and
 * every 'runs' case ran exactly once, and the worker's memory stayed bounded. Figures go to
 * bench/results/chaos/bad-input.json (report.ts) for docs/reliability.md.
 *
 * The worker runs in this process (async pool), so the memory figures include the producer's; the corpus
 * is built before the first measure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResultBackend } from '../../src/backends/backend.js';
import type { Broker } from '../../src/brokers/broker.js';
import { loadAmqplib } from '../../src/drivers/amqp/driver.js';
import { Celeriac } from '../../src/index.js';
import { DEAD_HEADERS } from '../../src/middleware/dead-letter.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { currentTask } from '../../src/task/context.js';
import { createLogger } from '../../src/util/log.js';
import { deletePrefix, rawClient, skipRedis } from '../helpers/redis.js';
import { skipUnless, uniq, waitUntil } from '../helpers/services.js';
import {
  type AmqpRawCase,
  amqpRawCases,
  type Case,
  CORPUS_TASKS,
  type MessageCase,
  messageCases,
  type RawCase,
  type RowCase,
  redisEnvelopeCases,
  SIZE_LIMIT,
  sqliteRowCases,
  validTask,
} from './corpus.js';
import { type ChaosRow, record, sized } from './report.js';

const skipRabbit = await skipUnless(5672);
const root = mkdtempSync(join(tmpdir(), 'celeriac-chaos-bad-'));
const rows: ChaosRow[] = [];
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  if (rows.length) await record('bad-input', rows);
});

/** How each transport gets its envelope-level cases in, bypassing our publisher. */
interface Transport {
  name: string;
  broker: string;
  backend: string;
  /** Envelope-level cases, each with a function that writes it into `queue`. */
  raw(ns: string, queue: string): { cases: Case[]; inject(i: number): Promise<void>; close(): Promise<void> };
  /** Messages still unacked in the store once all settled (Redis: the `unacked` hash): must be 0. */
  unacked(queue: string): Promise<number>;
  cleanup(queues: string[]): Promise<void>;
}

function deep(n: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

/** The bytes a case's dead letter holds: its body, or for an undecodable envelope the envelope. */
function deadBody(c: Case): Buffer {
  if ('message' in c) return (c as MessageCase).message.body;
  if ('raw' in c) return Buffer.from(Buffer.from((c as RawCase).raw).toString('utf8'), 'utf8');
  if ('row' in c) {
    const body = (c as RowCase).row.body;
    return Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  }
  return (c as AmqpRawCase).content;
}

/** The rejected cases with no dead letter of their own (matched by task id, else by body). */
function missingDeadLetters(cases: readonly Case[], dead: readonly WireMessage[]): string[] {
  const pool = [...dead];
  const missing: string[] = [];
  const rejected = cases.filter((c) => c.expect === 'rejected');
  // Cases with an id first, so a body shared by many cases is not taken by the wrong one.
  for (const c of [...rejected.filter((c) => c.id), ...rejected.filter((c) => !c.id)]) {
    let i = c.id ? pool.findIndex((m) => m.headers.id === c.id) : -1;
    if (i < 0) i = pool.findIndex((m) => m.body.equals(deadBody(c)));
    if (i < 0) missing.push(c.name);
    else pool.splice(i, 1);
  }
  return missing;
}

const mb = (n: number) => Math.round(n / 1024 / 1024);

async function run(t: Transport): Promise<void> {
  const ns = uniq(`bad-${t.name}`);
  const queue = `${ns}.q`;
  const dlq = `${ns}.dead`;
  const app = new Celeriac({
    broker: t.broker,
    backend: t.backend,
    workerMessageSizeLimit: SIZE_LIMIT,
    workerDeadLetterQueue: dlq,
  });
  const ran = new Map<string, number>();
  const count = <T>(value: T): T => {
    const id = currentTask().id;
    ran.set(id, (ran.get(id) ?? 0) + 1);
    return value;
  };
  app.task(CORPUS_TASKS.ok, (n: number) => count(n), { params: ['n'] });
  app.task(CORPUS_TASKS.deep, (n: number) => count(deep(n)), { params: ['n'] });
  const logs: string[] = [];
  const raw = t.raw(ns, queue);
  const rounds = sized(1, 4);
  const validPerBad = sized(1, 3);
  // Each round has ids of its own (`${ns}.<round>-m<k>`).
  const messages = Array.from({ length: rounds }, (_, r) => messageCases(`${ns}.${r}`)).flat();
  const bad: Case[] = [...messages, ...raw.cases];
  const worker = app.worker({
    queues: [queue],
    pool: 'async',
    concurrency: 8,
    logger: createLogger('warn', (l) => logs.push(l)),
  });
  let broker: Broker | null = null;
  try {
    await worker.start();
    broker = await app.broker();
    const backend = (await app.backend()) as ResultBackend;
    const before = process.memoryUsage();
    let valid = 0;
    const sendValid = async () => {
      for (let v = 0; v < validPerBad; v++) await broker?.publish(queue, validTask(ns, valid++));
    };
    for (const c of messages) {
      await broker.publish(queue, c.message);
      await sendValid();
    }
    for (let i = 0; i < raw.cases.length; i++) {
      await raw.inject(i);
      await sendValid();
    }
    const status = async (id: string) => (await backend.get(id))?.status ?? 'PENDING';
    const settledOf = async (c: Case): Promise<boolean> => {
      if (!c.id) return true;
      const s = await status(c.id);
      return c.expect === 'runs' ? s === 'SUCCESS' : s === 'FAILURE';
    };
    const rejected = bad.filter((c) => c.expect === 'rejected').length;
    const open = new Set(bad);
    const pending = async (): Promise<string[]> => {
      const left: string[] = [];
      for (const c of open) {
        if (await settledOf(c)) open.delete(c);
        else left.push(`${c.name} (${c.id}: ${c.id ? await status(c.id) : '-'})`);
      }
      const notRun = [...Array(valid).keys()].filter((n) => !ran.has(`${ns}-valid-${n}`));
      if (notRun.length) left.push(`${notRun.length} valid tasks not run`);
      const size = await broker?.size(dlq);
      if (size !== rejected) {
        const snap = await broker?.browse?.(dlq, rejected + 10);
        const missing = missingDeadLetters(bad, snap?.messages ?? []);
        await snap?.close();
        left.push(`${size} dead letters, expected ${rejected}; missing: ${missing.join(', ')}`);
      }
      return left;
    };
    try {
      await waitUntil(async () => (await pending()).length === 0, sized(60_000, 600_000), 'settled');
    } catch {
      throw new Error(`${t.name}: not settled: ${(await pending()).join('; ')}\n${logs.slice(-20).join('')}`);
    }
    const after = process.memoryUsage();
    // Nothing left behind: the task queue is empty and the dead letters are exactly the rejected ones.
    expect(await broker.size(queue)).toBe(0);
    await waitUntil(async () => (await t.unacked(queue)) === 0, 10_000, `${t.name}: nothing left unacked`);
    const snap = await broker.browse?.(dlq, rejected + 10);
    const dead = snap?.messages ?? [];
    await snap?.close();
    expect(dead.length).toBe(rejected);
    for (const m of dead) {
      expect(typeof m.headers[DEAD_HEADERS.reason]).toBe('string');
      expect(m.headers[DEAD_HEADERS.fromQueue]).toBe(queue);
    }
    expect(missingDeadLetters(bad, dead)).toEqual([]);
    let duplicates = 0;
    for (const [, n] of ran) duplicates += n - 1;
    for (let n = 0; n < valid; n++) expect(ran.get(`${ns}-valid-${n}`), `valid ${n}`).toBe(1);
    for (const c of bad) if (c.expect === 'runs' && c.id) expect(ran.get(c.id), c.name).toBe(1);
    expect(duplicates).toBe(0);
    // Bounded: the corpus holds a 64 MB compression bomb and 100,000-deep payloads; none may stay.
    expect(after.rss - before.rss).toBeLessThan(256 * 1024 * 1024);
    const failures = bad.filter((c) => c.id && c.expect !== 'runs').length;
    rows.push({
      broker: t.name,
      case: `bad input: ${bad.length} malformed (${raw.cases.length} envelope-level), ${valid} valid interleaved`,
      sent: bad.length + valid,
      lost: 0,
      duplicated: duplicates,
      notes: `dead-lettered ${dead.length}, FAILURE results ${failures}, valid ran ${valid}/${valid}, RSS ${mb(before.rss)} → ${mb(after.rss)} MB, heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB`,
    });
  } finally {
    await worker.stop();
    if (broker) await broker.purge(dlq).catch(() => 0);
    await app.close();
    await raw.close();
    await t.cleanup([queue, dlq]);
  }
}

const sqlite: Transport = {
  name: 'sqlite',
  get broker() {
    return `sqlite://${join(root, 'chaos.db')}`;
  },
  get backend() {
    return `sqlite://${join(root, 'chaos.db')}`;
  },
  raw(ns, queue) {
    const cases = sqliteRowCases(ns);
    let db: Database.Database | null = null;
    return {
      cases,
      async inject(i) {
        db ??= new Database(join(root, 'chaos.db'));
        const r = (cases[i] as (typeof cases)[number]).row;
        db.prepare(
          'INSERT INTO messages (queue, priority, created_at, content_type, content_encoding, headers, properties, body) VALUES (?, 0, ?, ?, ?, ?, ?, ?)',
        ).run(queue, Date.now(), r.content_type, r.content_encoding, r.headers, r.properties, r.body);
      },
      async close() {
        db?.close();
      },
    };
  },
  async unacked(queue) {
    const db = new Database(join(root, 'chaos.db'), { readonly: true });
    try {
      return db
        .prepare("SELECT count(*) FROM messages WHERE state = 'unacked' AND queue = ?")
        .pluck()
        .get(queue) as number;
    } finally {
      db.close();
    }
  },
  async cleanup() {},
};

const REDIS_DB = 6;
const redisPrefix = `${uniq('chaosbad')}:`;
const redis: Transport = {
  name: 'redis',
  broker: `redis://127.0.0.1:6379/${REDIS_DB}?global_keyprefix=${encodeURIComponent(redisPrefix)}`,
  backend: `redis://127.0.0.1:6379/${REDIS_DB}`,
  raw(ns, queue) {
    const cases = redisEnvelopeCases(ns);
    const c = rawClient(REDIS_DB);
    return {
      cases,
      async inject(i) {
        await c.lpush(`${redisPrefix}${queue}`, (cases[i] as (typeof cases)[number]).raw);
      },
      async close() {
        c.disconnect();
      },
    };
  },
  async unacked() {
    const c = rawClient(REDIS_DB);
    try {
      return await c.hlen(`${redisPrefix}unacked`);
    } finally {
      c.disconnect();
    }
  },
  async cleanup() {
    await deletePrefix(redisPrefix, REDIS_DB);
  },
};

const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672//';
const amqp: Transport = {
  name: 'amqp',
  broker: AMQP_URL,
  get backend() {
    return `sqlite://${join(root, 'amqp-results.db')}`;
  },
  raw(ns, queue) {
    const cases = amqpRawCases(ns);
    const conn = loadAmqplib().connect(AMQP_URL);
    return {
      cases,
      async inject(i) {
        const ch = await (await conn).createConfirmChannel();
        const c = cases[i] as (typeof cases)[number];
        ch.publish('', queue, c.content, c.options);
        await ch.waitForConfirms();
        await ch.close();
      },
      async close() {
        await (await conn).close();
      },
    };
  },
  // Unacked AMQP deliveries belong to the worker's channel, which the worker closes at stop.
  async unacked() {
    return 0;
  },
  async cleanup(queues) {
    const conn = await loadAmqplib().connect(AMQP_URL);
    const ch = await conn.createChannel();
    for (const q of queues) await ch.deleteQueue(q);
    await conn.close();
  },
};

describe('chaos: bad input', () => {
  it('sqlite: every bad message dead-lettered or failed, every valid task once', async () => {
    await run(sqlite);
  }, 900_000);
  it.skipIf(skipRedis)(
    'redis: every bad message dead-lettered or failed, every valid task once',
    async () => {
      await run(redis);
    },
    900_000,
  );
  it.skipIf(skipRabbit)(
    'amqp: every bad message dead-lettered or failed, every valid task once',
    async () => {
      await run(amqp);
    },
    900_000,
  );
});
