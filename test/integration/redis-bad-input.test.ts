/**
 * Issue 17 on Redis, against the machine's Redis: envelope-level bad messages are dead-lettered with
 * their raw bytes and logged through the worker's logger, never dropped behind a process warning
 * (defect 2); a message that cannot be parsed after the take is removed from `unacked`, never cycled
 * there, and one left there by a dead worker is restored as its raw bytes (defect 3); two messages with
 * the same delivery tag both survive (defect 7).
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/brokers/broker.js';
import { buildEnvelope } from '../../src/brokers/redis/envelope.js';
import { createRedisStore, type RedisStore } from '../../src/brokers/redis/index.js';
import { VirtualBroker } from '../../src/brokers/virtual.js';
import { Celeriac } from '../../src/index.js';
import { DEAD_HEADERS } from '../../src/middleware/dead-letter.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { CORPUS_TASKS, redisEnvelopeCases } from '../chaos/corpus.js';
import { deletePrefix, rawClient, skipRedis } from '../helpers/redis.js';
import { uniq, waitUntil } from '../helpers/services.js';

const DB = 4;

function task(id: string, n = 1) {
  return buildTaskMessage({
    id,
    name: 'tasks.add',
    args: [n, 1],
    kwargs: {},
    origin: 'gen1@test',
    replyTo: '',
    now: new Date(),
  });
}

describe.skipIf(skipRedis)('redis: bad input (issue 17)', () => {
  let raw: Redis;
  const prefixes: string[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);

  beforeAll(() => {
    raw = rawClient(DB);
    process.on('warning', onWarning);
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
    for (const p of prefixes.splice(0)) await deletePrefix(p, DB);
    warnings.length = 0;
  });
  afterAll(() => {
    process.off('warning', onWarning);
    raw.disconnect();
  });

  function prefix(): string {
    const p = `${uniq('rbad')}:`;
    prefixes.push(p);
    return p;
  }

  async function worker(p: string, options: Record<string, unknown> = {}) {
    const logs: string[] = [];
    const app = new Celeriac({
      broker: `redis://127.0.0.1:6379/${DB}?global_keyprefix=${encodeURIComponent(p)}`,
      backend: `redis://127.0.0.1:6379/${DB}`,
      brokerTransportOptions: options,
    });
    const added: number[] = [];
    app.task('tasks.add', (a: number, b: number) => {
      added.push(a);
      return a + b;
    });
    app.task(CORPUS_TASKS.ok, (n: number) => n, { params: ['n'] });
    const w: Worker = app.worker({ logger: createLogger('debug', (l) => logs.push(l)), pool: 'async' });
    await w.start();
    closers.push(
      () => app.close(),
      () => w.stop(),
    );
    return { app, logs, added };
  }

  async function deadLetters(p: string, n: number): Promise<Record<string, unknown>[]> {
    const key = `${p}celeriac.dead-letter`;
    await waitUntil(async () => (await raw.llen(key)) >= n, 10_000, `${n} dead letters`);
    return (await raw.lrange(key, 0, -1)).reverse().map((s) => JSON.parse(s) as Record<string, unknown>);
  }

  it('lpush celery "this is not json {": dead-lettered with its raw bytes and logged by the worker (defect 2)', async () => {
    const p = prefix();
    const { logs, app } = await worker(p);
    await raw.lpush(`${p}celery`, 'this is not json {');
    const [dl] = await deadLetters(p, 1);
    const h = dl?.headers as Record<string, unknown>;
    expect(Buffer.from(String(dl?.body), 'base64').toString()).toBe('this is not json {');
    expect(h[DEAD_HEADERS.reason]).toMatch(/undecodable message envelope/);
    expect(h[DEAD_HEADERS.fromQueue]).toBe('celery');
    expect(h[DEAD_HEADERS.undecodable]).toBe(true);
    expect(Number.isNaN(Date.parse(String(h[DEAD_HEADERS.at])))).toBe(false);
    expect(logs.some((l) => l.includes('ERROR') && l.includes('undecodable message envelope'))).toBe(true);
    expect(warnings).toEqual([]);
    // Rejected once dead-lettered: out of unacked, not waiting there for a visibility timeout.
    await waitUntil(async () => (await raw.hlen(`${p}unacked`)) === 0, 5000, 'unacked empty');
    // And the worker goes on.
    expect(await (await app.sendTask('tasks.add', [2, 3])).get({ timeout: 10 })).toBe(5);
  });

  it('properties null, with an id in the headers: a FAILURE under that id, and dead-lettered (defect 2)', async () => {
    const p = prefix();
    const { app } = await worker(p);
    const id = uniq('noprops');
    const env = buildEnvelope(task(id), '', 'celery') as unknown as Record<string, unknown>;
    env.properties = null;
    await raw.lpush(`${p}celery`, JSON.stringify(env));
    await expect(app.AsyncResult(id).get({ timeout: 10 })).rejects.toMatchObject({
      excType: 'ProtocolError',
    });
    const [dl] = await deadLetters(p, 1);
    const h = (dl?.headers ?? {}) as Record<string, unknown>;
    expect(h.id).toBe(id);
    expect(h[DEAD_HEADERS.reason]).toBe('message envelope has no properties');
  });

  it('every envelope-level case of the corpus is dead-lettered or runs; nothing stays unacked (defects 2, 3)', async () => {
    const p = prefix();
    const { app } = await worker(p);
    const cases = redisEnvelopeCases(uniq('corpus'));
    for (const c of cases) await raw.lpush(`${p}celery`, c.raw);
    const rejected = cases.filter((c) => c.expect === 'rejected');
    const dead = await deadLetters(p, rejected.length);
    expect(dead.length).toBe(rejected.length);
    for (const c of cases.filter((c) => c.expect === 'runs' && c.id)) {
      expect(await app.AsyncResult(c.id as string).get({ timeout: 10 }), c.name).toBe(1);
    }
    for (const c of rejected.filter((c) => c.id)) {
      await expect(app.AsyncResult(c.id as string).get({ timeout: 10 }), c.name).rejects.toMatchObject({
        excType: 'ProtocolError',
      });
    }
    await waitUntil(async () => (await raw.hlen(`${p}unacked`)) === 0, 10_000, 'unacked empty');
  });

  it('a message taken and never parsed (NaN in headers, body_encoding hex) leaves unacked at once (defect 3)', async () => {
    const p = prefix();
    const store = createRedisStore(new URL(`redis://127.0.0.1:6379/${DB}`), { globalKeyprefix: p });
    const b = new VirtualBroker(store);
    closers.push(() => b.close());
    await b.connect();
    const nan = JSON.stringify(buildEnvelope(task('nan-1'), '', 'q')).replace('"retries":0', '"retries":NaN');
    const hexEnv = buildEnvelope(task('hex-1'), '', 'q') as unknown as {
      properties: Record<string, unknown>;
    };
    hexEnv.properties.body_encoding = 'hex';
    await raw.lpush(`${p}q`, nan, JSON.stringify(hexEnv));
    const got: Delivery[] = [];
    await b.consume(['q'], (d) => got.push(d), { prefetch: 10 });
    await waitUntil(() => got.length === 2, 10_000, 'both delivered');
    expect(got.map((d) => d.undecodable?.message)).toEqual([
      expect.stringMatching(/undecodable message envelope/),
      'unsupported body_encoding "hex"',
    ]);
    expect(got[0]?.message.body.toString()).toBe(nan);
    expect(await raw.hlen(`${p}unacked`)).toBe(2);
    // The worker dead-letters, then rejects: they are gone, not restored at the next visibility timeout.
    await Promise.all(got.map((d) => d.reject(false)));
    expect(await raw.hlen(`${p}unacked`)).toBe(0);
    expect(await raw.zcard(`${p}unacked_index`)).toBe(0);
  });

  it('an empty envelope popped by an idle consumer blocked in BRPOP is recorded and delivered, not lost (defect 2)', async () => {
    const p = prefix();
    const name = uniq('idle');
    const store = createRedisStore(new URL(`redis://127.0.0.1:6379/${DB}`), {
      globalKeyprefix: p,
      clientName: name,
    });
    const b = new VirtualBroker(store);
    closers.push(() => b.close());
    await b.connect();
    const got: Delivery[] = [];
    await b.consume(['q'], (d) => got.push(d), { prefetch: 10 });
    const blocked = async () =>
      String(await raw.client('LIST'))
        .split('\n')
        .some(
          (l) => l.includes(` name=${name}-blocking `) && /\bflags=\S*b/.test(l) && l.includes('cmd=brpop'),
        );
    await waitUntil(blocked, 5000, 'the consumer to block in BRPOP');
    await raw.lpush(`${p}q`, '');
    await waitUntil(() => got.length === 1, 5000, 'the empty envelope delivered');
    expect(got[0]?.undecodable?.message).toMatch(/undecodable message envelope/);
    expect(got[0]?.message.body.length).toBe(0);
    expect(await raw.hlen(`${p}unacked`)).toBe(1);
    await got[0]?.reject(false);
    expect(await raw.hlen(`${p}unacked`)).toBe(0);
  });

  it('a poison entry a dead worker left in unacked is restored as its raw bytes, not left in place (defect 3)', async () => {
    const p = prefix();
    const nan = JSON.stringify(buildEnvelope(task('nan-2'), '', 'q')).replace('"retries":0', '"retries":NaN');
    // What the take script wrote before the worker was killed (cjson reads NaN; JSON.parse does not).
    await raw.hset(`${p}unacked`, 'dead-tag', `[${nan},"","q"]`);
    await raw.zadd(`${p}unacked_index`, 1, 'dead-tag');
    const store: RedisStore = createRedisStore(new URL(`redis://127.0.0.1:6379/${DB}`), {
      globalKeyprefix: p,
      visibilityTimeout: 1,
    });
    const errors: Error[] = [];
    store.onError = (e) => errors.push(e);
    closers.push(() => store.close());
    await store.connect();
    expect(await store.restoreTimedOut()).toBe(1);
    expect(await raw.lrange(`${p}q`, 0, -1)).toEqual([nan]);
    expect(await raw.hlen(`${p}unacked`)).toBe(0);
    expect(errors).toEqual([]);
  });

  it('two messages with one delivery tag: the second is held under a fresh tag, with a warning, and both survive (defect 7)', async () => {
    const p = prefix();
    const url = new URL(`redis://127.0.0.1:6379/${DB}`);
    const logs: string[] = [];
    // Worker A took the first and was killed -9: its entry stays in unacked until the visibility timeout.
    const storeA = createRedisStore(url, { globalKeyprefix: p, visibilityTimeout: 1 });
    const a = new VirtualBroker(storeA);
    const storeB = createRedisStore(url, { globalKeyprefix: p, visibilityTimeout: 1 });
    storeB.setLogger(createLogger('debug', (l) => logs.push(l)));
    const b = new VirtualBroker(storeB);
    closers.push(() => b.close());
    await a.connect();
    await b.connect();
    const first = JSON.stringify(buildEnvelope(task('dup-1', 1), '', 'q', 'same-tag'));
    const second = JSON.stringify(buildEnvelope(task('dup-2', 2), '', 'q', 'same-tag'));
    await raw.lpush(`${p}q`, first);
    const taken = await a.store.take(['q'], 1, 0);
    expect(taken.map((t) => t.tag)).toEqual(['same-tag']);
    storeA.client.disconnect(); // A is gone without closing: it gives nothing back
    closers.push(() => a.close());
    await raw.lpush(`${p}q`, second);
    const got: Delivery[] = [];
    await b.consume(['q'], (d) => got.push(d), { prefetch: 10 });
    await waitUntil(() => got.length === 1, 10_000, 'B takes the second');
    expect(await raw.hlen(`${p}unacked`)).toBe(2);
    expect(logs.some((l) => l.includes('WARNING') && l.includes('duplicate delivery tag same-tag'))).toBe(
      true,
    );
    await got[0]?.ack();
    // A's message was not overwritten nor deleted by B's ack: the visibility timeout gives it back.
    expect(JSON.parse((await raw.hget(`${p}unacked`, 'same-tag')) as string)[0].headers.id).toBe('dup-1');
    // A visibility timeout later (and past A's unacked_mutex, which a killed worker may leave behind):
    await raw.zadd(`${p}unacked_index`, 1, 'same-tag');
    await raw.del(`${p}unacked_mutex`);
    await storeB.restoreTimedOut(); // (or B's own periodic scan does it first)
    await waitUntil(() => got.length === 2, 10_000, "A's message comes back");
    expect(got.map((d) => d.message.headers.id)).toEqual(['dup-2', 'dup-1']);
  });
});
