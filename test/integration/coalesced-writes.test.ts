/**
 * Coalesced writes (issue 19): a burst of acks or results finished in one turn reaches each store as one
 * write, and a failed write fails each item in it. Counted on the real services: Redis commands with
 * MONITOR (only our key prefix, db 3), RabbitMQ basic.ack frames at the driver's Channel.ack, SQLite
 * write transactions on the shared connection. No timing: every wait is on an event or a sentinel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../../src/backends/redis/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import type { Broker, Delivery } from '../../src/brokers/broker.js';
import { createRedisStore, type RedisStore } from '../../src/brokers/redis/index.js';
import { SqliteStore } from '../../src/brokers/sqlite/index.js';
import { VirtualBroker } from '../../src/brokers/virtual.js';
import { acquireFile } from '../../src/drivers/sqlite/file.js';
import { parseSqliteUrl } from '../../src/drivers/sqlite/options.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { buildMeta } from '../../src/protocol/result.js';
import { RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { deletePrefix, REDIS_PORT, rawClient, skipRedis } from '../helpers/redis.js';
import { skipUnless, uniq, waitUntil } from '../helpers/services.js';

const DB = 3;
const N = 20;

function message(n: number): WireMessage {
  return {
    body: Buffer.from(
      JSON.stringify([[n], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
    ),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'py', task: 't.n', id: `id-${n}`, retries: 0 },
    properties: { correlation_id: `id-${n}`, reply_to: 'r', delivery_mode: 2, priority: 0 },
  };
}
const numberOf = (d: Delivery) => (JSON.parse(d.message.body.toString()) as [[number]])[0][0];
const meta = (id: string) => buildMeta(id, 'SUCCESS', 42, null, new Date());

/** Publish `n` messages to a fresh queue and consume them all (held unacked). */
async function holdAll(b: Broker, n: number, prefetch = 0): Promise<{ queue: string; got: Delivery[] }> {
  const queue = uniq('burst');
  await b.publishMany(Array.from({ length: n }, (_, i) => ({ queue, message: message(i) })));
  const got: Delivery[] = [];
  await b.consume([queue], (d) => got.push(d), { prefetch, onError: () => {} });
  await waitUntil(() => got.length === n, 10_000, `${n} deliveries`);
  got.sort((a, c) => numberOf(a) - numberOf(c));
  return { queue, got };
}

/**
 * MONITOR on a plain socket (ioredis' monitor mode loses track of its replies on a busy shared server):
 * each line is `+<time> [<db> <addr>] "cmd" "arg" …`; only commands of `db` that name `prefix` are kept.
 */
function monitorRedis(prefix: string, db: number, onCommand: (args: string[]) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port: REDIS_PORT });
    let rest = '';
    let ready = false;
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.on('connect', () => socket.write('MONITOR\r\n'));
    socket.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\r\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (!ready) {
          ready = line === '+OK';
          if (ready) resolve(socket);
          continue;
        }
        if (!line.includes(prefix) || !line.includes(`[${db} `)) continue;
        const args = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string);
        onCommand(args);
      }
    });
  });
}

describe.skipIf(skipRedis)('coalesced writes: Redis', () => {
  let raw: Redis;
  let monitor: Socket | undefined;
  const seen: string[][] = [];
  const prefix = `${uniq('coal')}:`;
  const open: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    raw = rawClient(DB);
    monitor = await monitorRedis(prefix, DB, (args) => seen.push(args));
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close().catch(() => {})));
  });
  afterAll(async () => {
    monitor?.destroy();
    await deletePrefix(prefix, DB);
    raw.disconnect();
  });

  /** Everything the server ran before now has reached `seen` (MONITOR is in execution order). */
  async function sync(): Promise<void> {
    const key = `${prefix}sentinel-${Math.random()}`;
    await raw.get(key);
    await waitUntil(() => seen.some((a) => a.includes(key)), 10_000, 'the MONITOR sentinel');
  }
  const named = (cmd: string) => seen.filter((a) => a[0]?.toLowerCase() === cmd);

  function broker(): { b: VirtualBroker; store: RedisStore } {
    const store = createRedisStore(new URL(`redis://127.0.0.1:6379/${DB}`), { globalKeyprefix: prefix });
    const b = new VirtualBroker(store);
    open.push(b);
    return { b, store };
  }
  function backend(): RedisBackend {
    const be = createRedisBackend(new URL(`redis://127.0.0.1:6379/${DB}`), { globalKeyprefix: prefix });
    open.push(be);
    return be;
  }

  it('acks of one turn: one ZREM and one HDEL carrying every tag', async () => {
    const { b } = broker();
    await b.connect();
    const { queue, got } = await holdAll(b, N);
    await sync();
    seen.length = 0;
    await Promise.all(got.map((d) => d.ack()));
    await sync();
    const zrem = named('zrem');
    const hdel = named('hdel');
    expect(zrem).toHaveLength(1);
    expect(hdel).toHaveLength(1);
    expect(zrem[0]?.length).toBe(2 + N); // ZREM key tag1 … tagN
    expect(await b.size(queue)).toBe(0);
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
  });

  it('results of one turn: one script call storing every result', async () => {
    const be = backend();
    await be.connect();
    await sync();
    seen.length = 0;
    const ids = Array.from({ length: N }, (_, i) => `${prefix}r${i}`);
    await Promise.all(ids.map((id) => be.store(meta(id), { expires: 60 })));
    await sync();
    const calls = seen.filter((a) => ['evalsha', 'eval'].includes(a[0]?.toLowerCase() ?? ''));
    expect(calls).toHaveLength(1);
    expect(Number(calls[0]?.[2])).toBe(N); // numkeys: one key per result
    expect(named('set').length + named('setex').length).toBe(N); // the script's own writes
    expect((await be.get(ids[N - 1] as string))?.status).toBe('SUCCESS');
  });

  it('a failed ack write fails every ack in it', async () => {
    const { b, store } = broker();
    await b.connect();
    const { got } = await holdAll(b, 3);
    store.onError = () => {};
    store.client.disconnect();
    const results = await Promise.allSettled(got.map((d) => d.ack()));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
  });

  it('a failed result write fails every result in it', async () => {
    const be = backend();
    await be.connect();
    be.client.disconnect();
    const results = await Promise.allSettled(
      ['a', 'b', 'c'].map((id) => be.store(meta(`${prefix}${id}`), { expires: 60 })),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason.message)).toMatch(/storing 3 results/);
  });
});

const skipRabbit = await skipUnless(RABBIT_PORT);
const vhostUrl = usePrivateVhost(skipRabbit);

describe.skipIf(skipRabbit)('coalesced writes: RabbitMQ', () => {
  const open: Broker[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
  });
  async function broker(): Promise<AmqpBroker> {
    const b = new AmqpBroker(new URL(vhostUrl()), {});
    open.push(b);
    await b.connect();
    return b;
  }
  /** basic.ack frames sent from now on, as [delivery tag, multiple]. */
  async function countAcks(): Promise<Array<[number, boolean]>> {
    const driver = 'amqplib/lib/channel_model.js'; // untyped internal module: the class behind every channel
    const { Channel } = (await import(driver)) as {
      Channel: { prototype: { ack(m: { fields: { deliveryTag: number } }, all?: boolean): void } };
    };
    const acks: Array<[number, boolean]> = [];
    const real = Channel.prototype.ack;
    vi.spyOn(Channel.prototype, 'ack').mockImplementation(function (this: unknown, m, all) {
      acks.push([m.fields.deliveryTag, all === true]);
      return real.call(this, m, all);
    });
    return acks;
  }

  it('acks of one turn: one multiple ack for the acked run, a plain ack each behind a running task', async () => {
    const b = await broker();
    const { queue, got } = await holdAll(b, 10, 10);
    const acks = await countAcks();
    const running = got[5] as Delivery;
    await Promise.all(got.filter((d) => d !== running).map((d) => d.ack()));
    const tags = got.map((d) => numberOf(d) + 1); // one channel, tags 1..10 in publish order
    expect(acks).toEqual([[tags[4], true], ...tags.slice(6).map((t) => [t, false])]);
    // The running one was not acked: closing the channel gives exactly it back.
    await b.close();
    const check = await broker();
    const back: Delivery[] = [];
    await check.consume([queue], (d) => back.push(d), { prefetch: 0, onError: () => {} });
    await waitUntil(() => back.length === 1, 10_000, 'the unacked delivery');
    expect(numberOf(back[0] as Delivery)).toBe(5);
    expect(back[0]?.redelivered).toBe(true);
    await back[0]?.ack();
  });

  it('an ack of the oldest delivery after the others: a plain ack of it alone', async () => {
    const b = await broker();
    const { queue, got } = await holdAll(b, 4, 4);
    const acks = await countAcks();
    await Promise.all(got.slice(1).map((d) => d.ack()));
    await got[0]?.ack();
    expect(acks.map(([, multiple]) => multiple)).toEqual([false, false, false, false]);
    expect(await b.size(queue)).toBe(0);
  });
});

describe('coalesced writes: SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-coalesce-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  async function pair() {
    const target = parseSqliteUrl(new URL(`sqlite://${join(dir, `db-${++n}.db`)}`));
    const b = new VirtualBroker(new SqliteStore(target));
    const be = new SqliteBackend(target);
    await b.connect();
    await be.connect();
    const file = await acquireFile(target.path, target.options); // the same shared connection
    return {
      b,
      be,
      file,
      close: async () => {
        await b.close();
        await be.close();
        file.release();
      },
    };
  }

  it('the acks and results of one turn commit in one transaction, whatever their order', async () => {
    const { b, be, file, close } = await pair();
    try {
      const { queue, got } = await holdAll(b, N);
      const before = file.transactions;
      // Results first, then acks, as acks_late would order them within a turn.
      const writes = [
        ...got.map((d) => be.store(meta(String(d.message.headers.id)), { expires: null })),
        ...got.map((d) => d.ack()),
      ];
      await Promise.all(writes);
      expect(file.transactions - before).toBe(1);
      expect(await b.size(queue)).toBe(0);
      expect((await be.get('id-0'))?.status).toBe('SUCCESS');
      expect(b.store instanceof SqliteStore && b.store.stats().held).toBe(0);
    } finally {
      await close();
    }
  });

  it('a failed transaction fails every ack and result in it, and the messages stay held', async () => {
    const { b, be, file, close } = await pair();
    try {
      const { got } = await holdAll(b, 3);
      // A trigger that aborts any delete of a message row: the turn's transaction rolls back.
      file.db.exec(
        "CREATE TRIGGER no_ack BEFORE DELETE ON messages BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
      );
      const results = await Promise.allSettled([
        be.store(meta('id-0'), { expires: null }),
        ...got.map((d) => d.ack()),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      expect(await be.get('id-0')).toBeNull(); // rolled back with the acks
      expect(b.store instanceof SqliteStore && b.store.stats().held).toBe(3);
      file.db.exec('DROP TRIGGER no_ack');
    } finally {
      await close();
    }
  });
});
