/**
 * Redis result backend against the machine's Redis, asserted with a raw client: Celery's keys, expiry and
 * publish, the SUCCESS dedup guard, subscriptions that never pile up (celery/celery#3812), group and chord
 * layouts, and the key prefix rule.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../../src/backends/redis/index.js';
import { ResultKeys } from '../../src/drivers/redis/keys.js';
import { buildMeta } from '../../src/protocol/result.js';
import { deletePrefix, rawClient, skipRedis } from '../helpers/redis.js';
import { uniq, waitUntil } from '../helpers/services.js';

const DB = 4;

describe.skipIf(skipRedis)('redis result backend: Celery layout', () => {
  let raw: Redis;
  const open: RedisBackend[] = [];
  const prefixes: string[] = [];

  async function backend(opts: Record<string, unknown> = {}): Promise<{ b: RedisBackend; prefix: string }> {
    const prefix = `${uniq('rr')}:`;
    prefixes.push(prefix);
    const b = createRedisBackend(new URL(`redis://127.0.0.1:6379/${DB}`), {
      globalKeyprefix: prefix,
      ...opts,
    });
    await b.connect();
    open.push(b);
    return { b, prefix };
  }

  beforeAll(() => {
    raw = rawClient(DB);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
    for (const p of prefixes.splice(0)) await deletePrefix(p, DB);
  });
  afterAll(() => raw.disconnect());

  it('writes celery-task-meta-<id> with SETEX and publishes it on the same channel', async () => {
    const { b, prefix } = await backend();
    const id = uniq('t');
    const key = `${prefix}celery-task-meta-${id}`;
    const sub = rawClient(DB);
    const heard: string[] = [];
    sub.on('message', (_c: string, m: string) => heard.push(m));
    await sub.subscribe(key);
    const meta = buildMeta(id, 'SUCCESS', { x: [1, 'é'] }, null, new Date('2026-01-02T03:04:05.678Z'));
    await b.store(meta, { expires: 86_400 });
    const stored = (await raw.get(key)) as string;
    expect(JSON.parse(stored)).toEqual({
      status: 'SUCCESS',
      result: { x: [1, 'é'] },
      traceback: null,
      children: [],
      date_done: '2026-01-02T03:04:05.678000+00:00',
      task_id: id,
    });
    expect(Object.keys(JSON.parse(stored)).at(-1)).toBe('task_id');
    const ttl = await raw.ttl(key);
    expect(ttl).toBeGreaterThan(86_390);
    expect(ttl).toBeLessThanOrEqual(86_400);
    await waitUntil(() => heard.length === 1, 5000, 'publish');
    expect(heard[0]).toBe(stored);
    sub.disconnect();
    // expires null: plain SET, no TTL.
    const id2 = uniq('t');
    await b.store(buildMeta(id2, 'SUCCESS', 1, null, new Date()), { expires: null });
    expect(await raw.ttl(`${prefix}celery-task-meta-${id2}`)).toBe(-1);
  });

  it('never overwrites a stored SUCCESS (Celery dedup guard), but does overwrite other states', async () => {
    const { b } = await backend();
    const id = uniq('d');
    await b.store(buildMeta(id, 'STARTED', { pid: 1 }, null, new Date()), { expires: 60 });
    await b.store(buildMeta(id, 'SUCCESS', 1, null, new Date()), { expires: 60 });
    await b.store(
      buildMeta(id, 'FAILURE', { exc_type: 'X', exc_message: [], exc_module: 'm' }, null, new Date()),
      {
        expires: 60,
      },
    );
    expect((await b.get(id))?.status).toBe('SUCCESS');
  });

  it('reads metas Python wrote (spacing, kombu >= 5.3 markers)', async () => {
    const { b, prefix } = await backend();
    const id = uniq('py');
    await raw.set(
      `${prefix}celery-task-meta-${id}`,
      `{"status": "SUCCESS", "result": {"dt": {"__type__": "datetime", "__value__": "2024-01-02T03:04:05+00:00"}}, "traceback": null, "children": [], "date_done": "2024-01-02T03:04:05.000001+00:00", "task_id": "${id}"}`,
    );
    const meta = await b.waitFor(id, { timeoutMs: 1000 });
    expect(meta?.status).toBe('SUCCESS');
    expect((meta?.result as { dt: Date } | undefined)?.dt).toEqual(new Date('2024-01-02T03:04:05Z'));
  });

  it('multiplexes thousands of waits on one subscriber and unsubscribes every one when done (#3812)', async () => {
    const { b: waiter, prefix } = await backend();
    const writer = createRedisBackend(new URL(`redis://127.0.0.1:6379/${DB}`), { globalKeyprefix: prefix });
    await writer.connect();
    open.push(writer);
    const ids = Array.from({ length: 3000 }, () => uniq('m'));
    const waits = ids.map((id) => waiter.waitFor(id, { timeoutMs: 30_000 }));
    await waitUntil(() => waiter.subscriptions === 3000, 10_000, '3000 subscriptions');
    const numsub = async (n: number) =>
      (await raw.call(
        'PUBSUB',
        'NUMSUB',
        ...ids.slice(0, n).map((id) => `${prefix}celery-task-meta-${id}`),
      )) as unknown[];
    expect((await numsub(3)).filter((_, i) => i % 2 === 1)).toEqual([1, 1, 1]);
    // Half of them finish; the others time out or are aborted.
    const p = writer.client.pipeline();
    for (const id of ids.slice(0, 1500)) {
      const m = JSON.stringify(buildMeta(id, 'SUCCESS', id, null, new Date()));
      p.setex(`${prefix}celery-task-meta-${id}`, 60, m).publish(`${prefix}celery-task-meta-${id}`, m);
    }
    await p.exec();
    const got = await Promise.all(waits.slice(0, 1500));
    expect(got.map((m) => m?.result)).toEqual(ids.slice(0, 1500));
    const ac = new AbortController();
    const late = waiter.waitFor(uniq('abort'), { timeoutMs: null, signal: ac.signal });
    ac.abort();
    expect(await late).toBeNull();
    await waitUntil(() => waiter.subscriptions === 1500, 10_000, 'finished ids unsubscribed');
    await waiter.close();
    expect(await Promise.all(waits.slice(1500))).toEqual(Array(1500).fill(null));
  });

  it('a wait that ends and comes back before the next sync still reads the stored result', async () => {
    // The channel is still subscribed when the second wait starts (the sync that would drop it has not
    // run), and the result was stored with no one to hear its message: only a read of the key finds it.
    const { b, prefix } = await backend();
    const id = uniq('again');
    const ac = new AbortController();
    const first = b.waitFor(id, { timeoutMs: null, signal: ac.signal });
    await waitUntil(() => b.subscriptions === 1, 5000, 'the first wait subscribed');
    const meta = JSON.stringify(buildMeta(id, 'SUCCESS', 42, null, new Date()));
    await raw.setex(`${prefix}celery-task-meta-${id}`, 60, meta); // stored, never published
    ac.abort();
    const second = b.waitFor(id, { timeoutMs: 5000 });
    expect(await first).toBeNull();
    expect((await second)?.result).toBe(42);
  });

  it('drops subscriptions of waits that time out', async () => {
    const { b } = await backend();
    const got = await Promise.all(Array.from({ length: 50 }, () => b.waitFor(uniq('to'), { timeoutMs: 50 })));
    expect(got.every((m) => m === null)).toBe(true);
    await waitUntil(() => b.subscriptions === 0 && b.waiting === 0, 5000, 'no subscriptions left');
  });

  it('saves groups as Celery does', async () => {
    const { b, prefix } = await backend();
    const gid = uniq('g');
    await b.saveGroup(gid, ['a', 'b'], { expires: 60 });
    expect(JSON.parse((await raw.get(`${prefix}celery-taskset-meta-${gid}`)) as string)).toEqual({
      result: [
        [gid, null],
        [
          [['a', null], null],
          [['b', null], null],
        ],
      ],
    });
    expect(await b.getGroup(gid)).toEqual(['a', 'b']);
  });

  it('keeps chord counters in Celery’s .j/.t/.s keys and deletes them when the chord completes', async () => {
    const { b, prefix } = await backend();
    const gid = uniq('c');
    const base = `${prefix}celery-taskset-meta-${gid}`;
    const part = (id: string, status: string, result: unknown) =>
      buildMeta(id, status, result, null, new Date());
    await b.store(part('t2', 'SUCCESS', 20), { expires: 60 });
    await b.prepareChord(gid, 3, { expires: 60 });
    expect(await raw.get(`${base}.s`)).toBe('3');
    expect(await b.chordPartReturn(gid, 2, part('t2', 'SUCCESS', 20), null)).toBeNull();
    expect(await b.chordPartReturn(gid, 0, part('t0', 'SUCCESS', 0), null)).toBeNull();
    await b.addToChord(gid);
    expect(await b.chordPartReturn(gid, null, part('tx', 'SUCCESS', 'x'), null)).toBeNull();
    expect(await raw.type(`${base}.j`)).toBe('zset');
    // Members are the bytes Celery's json.dumps writes, so a Python worker's part is the same member.
    expect(await raw.zrange(`${base}.j`, 0, -1, 'WITHSCORES')).toEqual([
      '[1, "t0", "SUCCESS", 0]',
      '0',
      '[1, "t2", "SUCCESS", 20]',
      '2',
      '[1, "tx", "SUCCESS", "x"]',
      'inf',
    ]);
    const ttl = await raw.ttl(`${base}.j`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await b.chordPartReturn(gid, 1, part('t1', 'SUCCESS', 10), null)).toEqual([0, 10, 20, 'x']);
    expect(await raw.exists(`${base}.j`, `${base}.t`, `${base}.s`)).toBe(0);
  });

  it('applies Celery’s prefix rule: "_" appended unless the prefix ends in :_-.', () => {
    expect(new ResultKeys('rpfx').task('x')).toBe('rpfx_celery-task-meta-x');
    expect(new ResultKeys('a:').task('x')).toBe('a:celery-task-meta-x');
    expect(new ResultKeys('a.').group('g')).toBe('a.celery-taskset-meta-g');
    expect(new ResultKeys('').chordSize('g')).toBe('celery-taskset-meta-g.s');
  });
});
