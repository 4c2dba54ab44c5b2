/**
 * Redis broker against the machine's Redis: kombu's exact layout (asserted with a raw client), priority
 * order across queues, global_keyprefix, visibility-timeout restore of a dead consumer's messages, lease
 * renewal of held ETA messages (celery/celery#2599), fanout channels. Reconnects are in
 * redis-reconnect.test.ts (private server).
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/brokers/broker.js';
import { buildEnvelope } from '../../src/brokers/redis/envelope.js';
import { createRedisStore, RedisFanout, type RedisStore } from '../../src/brokers/redis/index.js';
import { VirtualBroker } from '../../src/brokers/virtual.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import { deletePrefix, rawClient, skipRedis } from '../helpers/redis.js';
import { uniq, waitUntil } from '../helpers/services.js';

const DB = 3;

function task(n: number, priority = 0, eta: Date | null = null) {
  return buildTaskMessage({
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    name: 'tasks.add',
    args: [n, 1],
    kwargs: { s: 'é✓' },
    origin: 'gen1@test',
    replyTo: 'r',
    priority,
    eta,
    now: new Date(),
  });
}

const argOf = (d: Delivery) => (JSON.parse(d.message.body.toString()) as [[number]])[0][0];

describe.skipIf(skipRedis)('redis broker: kombu layout and semantics', () => {
  let raw: Redis;
  const prefixes: string[] = [];
  const open: VirtualBroker[] = [];

  function broker(
    opts: Record<string, unknown> = {},
    url = `redis://127.0.0.1:6379/${DB}`,
  ): { b: VirtualBroker; store: RedisStore } {
    const store = createRedisStore(new URL(url), opts);
    const b = new VirtualBroker(store);
    open.push(b);
    return { b, store };
  }
  function prefixed(opts: Record<string, unknown> = {}) {
    const prefix = `${uniq('rb')}:`;
    prefixes.push(prefix);
    return { prefix, ...broker({ globalKeyprefix: prefix, ...opts }) };
  }

  beforeAll(() => {
    raw = rawClient(DB);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
    for (const p of prefixes.splice(0)) await deletePrefix(p, DB);
  });
  afterAll(() => raw.disconnect());

  it('writes kombu envelopes into priority buckets and declares the binding', async () => {
    const { b, prefix } = prefixed();
    await b.connect();
    const q = uniq('layout');
    await b.publishMany([
      { queue: q, message: task(1, 0) },
      { queue: q, message: task(2, 4) },
      { queue: q, message: task(3, 9) },
      { queue: q, message: task(4, 7) },
    ]);
    const keys = (await raw.keys(`${prefix}*`)).sort();
    expect(keys).toEqual(
      [
        `${prefix}${q}`,
        `${prefix}${q}\x06\x163`,
        `${prefix}${q}\x06\x166`,
        `${prefix}${q}\x06\x169`,
        `${prefix}_kombu.binding.${q}`,
      ].sort(),
    );
    expect(await raw.smembers(`${prefix}_kombu.binding.${q}`)).toEqual([`${q}\x06\x16\x06\x16${q}`]);
    const [item] = await raw.lrange(`${prefix}${q}\x06\x163`, 0, -1);
    const env = JSON.parse(item as string);
    expect(Object.keys(env)).toEqual(['body', 'content-encoding', 'content-type', 'headers', 'properties']);
    expect(env['content-type']).toBe('application/json');
    expect(env['content-encoding']).toBe('utf-8');
    expect(JSON.parse(Buffer.from(env.body, 'base64').toString())).toEqual([
      [2, 1],
      { s: 'é✓' },
      { callbacks: null, errbacks: null, chain: null, chord: null },
    ]);
    expect(env.headers).toMatchObject({
      lang: 'py',
      task: 'tasks.add',
      id: '00000000-0000-4000-8000-000000000002',
    });
    expect(env.properties).toMatchObject({
      correlation_id: '00000000-0000-4000-8000-000000000002',
      reply_to: 'r',
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: q },
      priority: 4,
      body_encoding: 'base64',
    });
    expect(env.properties.delivery_tag).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('records each delivery in unacked + unacked_index with the pop, and removes it on ack', async () => {
    const { b, prefix } = prefixed();
    await b.connect();
    const q = uniq('unacked');
    await b.publish(q, task(7, 3));
    const [item] = await raw.lrange(`${prefix}${q}\x06\x163`, 0, -1);
    const got: Delivery[] = [];
    const before = Date.now() / 1000;
    await b.consume([q], (d) => got.push(d), { prefetch: 1 });
    await waitUntil(() => got.length === 1, 10_000, 'delivery');
    const tag = JSON.parse(item as string).properties.delivery_tag as string;
    const entry = JSON.parse((await raw.hget(`${prefix}unacked`, tag)) as string);
    expect(entry).toEqual([JSON.parse(item as string), '', q]);
    const score = Number(await raw.zscore(`${prefix}unacked_index`, tag));
    expect(score).toBeGreaterThanOrEqual(before - 1);
    expect(score).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    expect(await raw.llen(`${prefix}${q}\x06\x163`)).toBe(0);
    await got[0]?.ack();
    expect(await raw.hexists(`${prefix}unacked`, tag)).toBe(0);
    expect(await raw.zscore(`${prefix}unacked_index`, tag)).toBeNull();
  });

  it('consumes a message written the way Python kombu writes it', async () => {
    const { b, prefix } = prefixed();
    await b.connect();
    const q = uniq('py');
    const body = Buffer.from(
      JSON.stringify([[2, 3], { z: 1 }, { callbacks: null, errbacks: null, chain: null, chord: null }]),
    );
    // Python's json.dumps spacing, as captured from celery 5.2 (celery-wire.md §2.1).
    const pyEnvelope = `{"body": "${body.toString('base64')}", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "tasks.add", "id": "780bcb08-de1d-42c2-8616-87ffa70b815d", "shadow": null, "eta": null, "expires": null, "group": null, "group_index": null, "retries": 0, "timelimit": [null, null], "root_id": "780bcb08-de1d-42c2-8616-87ffa70b815d", "parent_id": null, "argsrepr": "(2, 3)", "kwargsrepr": "{'z': 1}", "origin": "gen10039@vm", "ignore_result": false}, "properties": {"correlation_id": "780bcb08-de1d-42c2-8616-87ffa70b815d", "reply_to": "9546aef6-5b95-3f46-a159-30ea679d3cc2", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "${q}"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "9374bbf9-542c-4de0-b907-936fc881fc92"}}`;
    await raw.lpush(`${prefix}${q}`, pyEnvelope);
    const got: Delivery[] = [];
    await b.consume([q], (d) => got.push(d), { prefetch: 1 });
    await waitUntil(() => got.length === 1, 10_000, 'delivery');
    const d = got[0] as Delivery;
    expect(d.message.headers.task).toBe('tasks.add');
    expect(d.message.properties.correlation_id).toBe('780bcb08-de1d-42c2-8616-87ffa70b815d');
    expect(d.message.body.equals(body)).toBe(true);
    // The unacked entry embeds the envelope byte for byte.
    expect(await raw.hget(`${prefix}unacked`, '9374bbf9-542c-4de0-b907-936fc881fc92')).toBe(
      `[${pyEnvelope},"",${JSON.stringify(q)}]`,
    );
    await d.ack();
  });

  it('serves priority-major across several queues and rotates queues round-robin', async () => {
    const { b } = prefixed();
    await b.connect();
    const [q1, q2] = [uniq('pm1'), uniq('pm2')];
    await b.publish(q1, task(1, 9));
    await b.publish(q1, task(2, 6));
    await b.publish(q2, task(3, 0));
    await b.publish(q2, task(4, 3));
    const got: Delivery[] = [];
    await b.consume([q1, q2], (d) => got.push(d), { prefetch: 0 });
    await waitUntil(() => got.length === 4, 10_000, '4 deliveries');
    expect(got.map(argOf)).toEqual([3, 4, 2, 1]);
    await Promise.all(got.map((d) => d.ack()));
  });

  it('requeues to the front of the right bucket with redelivered set', async () => {
    const { b, prefix } = prefixed();
    await b.connect();
    const q = uniq('rq');
    await b.publishMany([1, 2].map((n) => ({ queue: q, message: task(n, 6) })));
    const got: Delivery[] = [];
    const c = await b.consume([q], (d) => got.push(d), { prefetch: 1 });
    await waitUntil(() => got.length === 1, 10_000, 'first');
    await c.cancel();
    await got[0]?.reject(true);
    const items = await raw.lrange(`${prefix}${q}\x06\x166`, 0, -1);
    // RPUSH: the requeued message (1) sits at the consuming end, ahead of message 2.
    const last = JSON.parse(items[items.length - 1] as string);
    expect(JSON.parse(Buffer.from(last.body, 'base64').toString())[0][0]).toBe(1);
    expect(last.headers.redelivered).toBe(true);
    expect(last.properties.delivery_info.redelivered).toBe(true);
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
  });

  it('restores the messages of a dead consumer after the visibility timeout (RPUSH, front)', async () => {
    const { b, store, prefix } = prefixed({ visibilityTimeout: 1 });
    await b.connect();
    const q = uniq('vis');
    // A Python worker that died holding a message left exactly this behind (score = delivery time).
    const env = buildEnvelope(task(9, 3), '', q, 'dead-tag-1');
    await raw.hset(`${prefix}unacked`, 'dead-tag-1', JSON.stringify([env, '', q]));
    await raw.zadd(`${prefix}unacked_index`, Date.now() / 1000 - 30, 'dead-tag-1');
    // A fresh one (another live holder) stays.
    await raw.hset(
      `${prefix}unacked`,
      'live-tag',
      JSON.stringify([buildEnvelope(task(8), '', q, 'live-tag'), '', q]),
    );
    await raw.zadd(`${prefix}unacked_index`, Date.now() / 1000, 'live-tag');
    await b.publish(q, task(10, 3));
    expect(await store.restoreTimedOut()).toBe(1);
    expect(await raw.hkeys(`${prefix}unacked`)).toEqual(['live-tag']);
    expect(await raw.get(`${prefix}unacked_mutex`)).toBeNull();
    const list = await raw.lrange(`${prefix}${q}\x06\x163`, 0, -1);
    expect(list).toHaveLength(2);
    const restored = JSON.parse(list[1] as string); // the consuming (right) end: it runs next
    expect(restored.properties.delivery_tag).toBe('dead-tag-1');
    expect(restored.headers.redelivered).toBe(true);
    const got: Delivery[] = [];
    await b.consume([q], (d) => got.push(d), { prefetch: 2 });
    await waitUntil(() => got.length === 2, 10_000, 'two deliveries');
    expect(got.map(argOf)).toEqual([9, 10]);
    expect(got[0]?.redelivered).toBe(true);
    expect(got[1]?.redelivered).toBe(false);
    await Promise.all(got.map((d) => d.ack()));
    expect(await raw.hkeys(`${prefix}unacked`)).toEqual(['live-tag']);
  });

  it('restores by itself while consuming (timer), under the unacked_mutex', async () => {
    const { b, prefix } = prefixed({ visibilityTimeout: 1 });
    await b.connect();
    const q = uniq('vis2');
    await raw.hset(
      `${prefix}unacked`,
      'dead-tag-2',
      JSON.stringify([buildEnvelope(task(5), '', q, 'dead-tag-2'), '', q]),
    );
    await raw.zadd(`${prefix}unacked_index`, Date.now() / 1000 - 30, 'dead-tag-2');
    const got: Delivery[] = [];
    await b.consume([q], (d) => got.push(d), { prefetch: 1 });
    await waitUntil(() => got.length === 1, 10_000, 'the restored message');
    expect(argOf(got[0] as Delivery)).toBe(5);
    await got[0]?.ack();
  });

  it('never re-delivers an ETA message a live consumer holds past the visibility timeout (#2599)', async () => {
    const prefix = `${uniq('eta')}:`;
    prefixes.push(prefix);
    const vt = 1;
    const a = broker({ globalKeyprefix: prefix, visibilityTimeout: vt });
    const other = broker({ globalKeyprefix: prefix, visibilityTimeout: vt, unackedRestoreInterval: 0.2 });
    await a.b.connect();
    await other.b.connect();
    const q = uniq('etaq');
    await a.b.publish(q, task(1, 0, new Date(Date.now() + 3600_000)));
    const held: Delivery[] = [];
    await a.b.consume([q], (d) => held.push(d), { prefetch: 1 });
    await waitUntil(() => held.length === 1, 10_000, 'A takes the ETA message');
    const tag = (await raw.hkeys(`${prefix}unacked`))[0] as string;
    const stolen: Delivery[] = [];
    await other.b.consume([q], (d) => stolen.push(d), { prefetch: 1 });
    // Wait until more than three visibility timeouts have passed and A has renewed its lease meanwhile.
    const start = Number(await raw.zscore(`${prefix}unacked_index`, tag));
    await waitUntil(
      async () => Date.now() / 1000 > start + 3 * vt + 0.5,
      10_000,
      'three visibility timeouts',
    );
    expect(Number(await raw.zscore(`${prefix}unacked_index`, tag))).toBeGreaterThan(start + 2 * vt);
    // A restore scan right now finds nothing stale, and the other consumer got nothing.
    expect(await other.store.restoreTimedOut()).toBe(0);
    expect(stolen).toHaveLength(0);
    expect(await a.b.size(q)).toBe(0);
    await held[0]?.ack();
    expect(await raw.hlen(`${prefix}unacked`)).toBe(0);
  });

  it('without lease renewal (kombu behaviour) the same ETA message is re-delivered: the test above is meaningful', async () => {
    const prefix = `${uniq('eta0')}:`;
    prefixes.push(prefix);
    const a = broker({ globalKeyprefix: prefix, visibilityTimeout: 1, leaseRenewal: false });
    const other = broker({ globalKeyprefix: prefix, visibilityTimeout: 1, unackedRestoreInterval: 0.2 });
    await a.b.connect();
    await other.b.connect();
    const q = uniq('etaq0');
    await a.b.publish(q, task(1, 0, new Date(Date.now() + 3600_000)));
    const held: Delivery[] = [];
    await a.b.consume([q], (d) => held.push(d), { prefetch: 1 });
    await waitUntil(() => held.length === 1, 10_000, 'A takes the ETA message');
    const stolen: Delivery[] = [];
    await other.b.consume([q], (d) => stolen.push(d), { prefetch: 1 });
    await waitUntil(() => stolen.length === 1, 10_000, 'the other consumer gets it after the timeout');
    expect(stolen[0]?.redelivered).toBe(true);
    await stolen[0]?.ack();
  });

  it('detects a lost lease: the delivery turns invalid and its ack leaves the new holder alone', async () => {
    const prefix = `${uniq('lost')}:`;
    prefixes.push(prefix);
    const a = broker({ globalKeyprefix: prefix, visibilityTimeout: 60 });
    const other = broker({ globalKeyprefix: prefix, visibilityTimeout: 60 });
    await a.b.connect();
    await other.b.connect();
    const q = uniq('lostq');
    await a.b.publish(q, task(1));
    const held: Delivery[] = [];
    await a.b.consume([q], (d) => held.push(d), { prefetch: 1 });
    await waitUntil(() => held.length === 1, 10_000, 'A takes the message');
    const tag = (await raw.hkeys(`${prefix}unacked`))[0] as string;
    // As if A had been cut off past the timeout: someone restored the message (same tag) meanwhile.
    const entry = JSON.parse((await raw.hget(`${prefix}unacked`, tag)) as string);
    await raw
      .multi()
      .hdel(`${prefix}unacked`, tag)
      .zrem(`${prefix}unacked_index`, tag)
      .rpush(`${prefix}${q}`, JSON.stringify(entry[0]))
      .exec();
    const lost: string[][] = [];
    a.store.onLeaseLost = (tags) => lost.push(tags);
    a.store.onError = () => {};
    expect(held[0]?.valid).toBe(true);
    await a.store.renewLeases();
    expect(lost).toEqual([[tag]]);
    expect(held[0]?.valid).toBe(false);
    const again: Delivery[] = [];
    await other.b.consume([q], (d) => again.push(d), { prefetch: 1 });
    await waitUntil(() => again.length === 1, 10_000, 'the other consumer takes it');
    await held[0]?.ack(); // must not delete the other consumer's entry (same tag)
    expect(await raw.hexists(`${prefix}unacked`, tag)).toBe(1);
    await again[0]?.ack();
    expect(await raw.hexists(`${prefix}unacked`, tag)).toBe(0);
  });

  it('cancels a consumer blocked in BRPOP without waiting out the wait', async () => {
    const name = uniq('cancel');
    const { b, prefix } = prefixed({ clientName: name });
    await b.connect();
    const q = uniq('idle');
    const got: Delivery[] = [];
    const c = await b.consume([q], (d) => got.push(d), { prefetch: 1 });
    // The server's view of our blocking connection (CLIENT LIST fields): flag b = blocked in a command.
    const blocking = async () => {
      const line = String(await raw.client('LIST'))
        .split('\n')
        .find((l) => l.includes(` name=${name}-blocking `));
      const field = (k: string) => line?.match(new RegExp(`\\b${k}=(\\S*)`))?.[1] ?? '';
      return { cmd: field('cmd'), blocked: field('flags').includes('b') };
    };
    await waitUntil(async () => (await blocking()).blocked, 5000, 'the consumer to block in BRPOP');
    expect((await blocking()).cmd).toBe('brpop');
    const started = performance.now();
    await c.cancel();
    // The virtual consumer's BRPOP waits 1 s when idle; cancel must interrupt it, not outlast it.
    expect(performance.now() - started).toBeLessThan(900);
    expect((await blocking()).blocked).toBe(false);
    // Nothing is left popping the queue: a message published now stays there.
    await raw.lpush(`${prefix}${q}`, JSON.stringify(buildEnvelope(task(1), '', q)));
    expect(await b.size(q)).toBe(1);
    expect(got).toEqual([]);
  });

  it('publishes fanout messages on kombu channels and receives them by pattern', async () => {
    const { b, store, prefix } = prefixed();
    await b.connect();
    const fanout = new RedisFanout(store);
    const sub = rawClient(DB);
    const seen: [string, string][] = [];
    sub.on('pmessage', (_p: string, ch: string, msg: string) => seen.push([ch, msg]));
    await sub.psubscribe(`${prefix}/${DB}.*`);
    const got: string[] = [];
    const stop = await fanout.subscribe('celeryev', 'worker.#', (m) =>
      got.push(`${m.exchange} ${m.routingKey} ${m.message.body}`),
    );
    await fanout.publish('celeryev', 'worker.heartbeat', {
      ...task(1),
      body: Buffer.from('{"type": "worker-heartbeat"}'),
    });
    await fanout.publish('celeryev', 'task.multi', { ...task(2), body: Buffer.from('[]') });
    await fanout.publish('celery.pidbox', '', { ...task(3), body: Buffer.from('{}') });
    await waitUntil(() => seen.length === 3 && got.length === 1, 5000, 'fanout deliveries');
    expect(seen.map((s) => s[0])).toEqual([
      `${prefix}/${DB}.celeryev/worker.heartbeat`,
      `${prefix}/${DB}.celeryev/task.multi`,
      `${prefix}/${DB}.celery.pidbox`,
    ]);
    expect(JSON.parse(seen[0]?.[1] as string).properties.delivery_info).toEqual({
      exchange: 'celeryev',
      routing_key: 'worker.heartbeat',
    });
    expect(got).toEqual(['celeryev worker.heartbeat {"type": "worker-heartbeat"}']);
    await stop();
    await fanout.close();
    sub.disconnect();
  });

  it('parses URLs and options: db, password, query options, unknown options fail with a hint', async () => {
    const { redisBrokerOptions } = await import('../../src/brokers/redis/index.js');
    const { parseRedisUrl } = await import('../../src/drivers/redis/connection.js');
    const t = parseRedisUrl(new URL('redis://:s%40cret@example.com:6380/5?visibility_timeout=60'));
    expect(t).toMatchObject({
      host: 'example.com',
      port: 6380,
      db: 5,
      password: 's@cret',
      username: undefined,
    });
    expect(
      redisBrokerOptions(new URL('redis://h/0?visibility_timeout=60&global_keyprefix=x:')).visibilityTimeout,
    ).toBe(60);
    expect(redisBrokerOptions(new URL('redis://h/0'), { global_keyprefix: 'p' }).globalKeyprefix).toBe('p');
    expect(() => redisBrokerOptions(new URL('redis://h/0'), { visibilityTimout: 1 })).toThrow(
      /did you mean "visibilityTimeout"/,
    );
    expect(() => parseRedisUrl(new URL('redis://h/x'))).toThrow(/database must be an integer/);
    expect(parseRedisUrl(new URL('rediss://h?ssl_cert_reqs=CERT_NONE')).tls).toMatchObject({
      rejectUnauthorized: false,
    });
  });
});
