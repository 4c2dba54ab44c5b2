/**
 * A message BRPOP pops is handed out before it is recorded in `unacked` (src/brokers/redis/popped.ts).
 * These tests watch the server (MONITOR, filtered to this test's key prefix) to check what that record
 * costs and that it is never skipped while the message is held: dropped when the ack comes in the same
 * turn, carried by the next take's script call, or written by itself at the end of the turn.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/brokers/broker.js';
import { createRedisStore, type RedisStore } from '../../src/brokers/redis/index.js';
import { type Taken, VirtualBroker } from '../../src/brokers/virtual.js';
import { Celeriac } from '../../src/index.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import { createLogger } from '../../src/util/log.js';
import { deletePrefix, rawClient, skipRedis } from '../helpers/redis.js';
import { uniq, waitUntil } from '../helpers/services.js';

const DB = 3;
/** The delivery tag the store handed the message out under (a VirtualDelivery is its Taken too). */
const tagOf = (d: Delivery | undefined): string | undefined => (d as (Delivery & Taken) | undefined)?.tag;

/** The commands the server ran (Lua's included) that name `needle`, as they arrive. */
async function watch(
  raw: Redis,
  needles: string | string[],
): Promise<{ seen: string[][]; stop: () => void }> {
  const monitor = await raw.duplicate().monitor();
  const seen: string[][] = [];
  const any = typeof needles === 'string' ? [needles] : needles;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((a) => any.some((n) => a.includes(n)))) seen.push(args);
  });
  return { seen, stop: () => monitor.disconnect() };
}

describe.skipIf(skipRedis)('redis broker: the record of a message popped by BRPOP', () => {
  let raw: Redis;
  const prefixes: string[] = [];
  const open: VirtualBroker[] = [];
  const stops: (() => void)[] = [];

  async function idleConsumer(onMessage: (d: Delivery) => void, prefetch: number) {
    const name = uniq('popped');
    const prefix = `${name}:`;
    prefixes.push(prefix);
    const store: RedisStore = createRedisStore(new URL(`redis://127.0.0.1:6379/${DB}`), {
      globalKeyprefix: prefix,
      clientName: name,
    });
    const b = new VirtualBroker(store);
    open.push(b);
    await b.connect();
    const q = uniq('q');
    const mon = await watch(raw, prefix);
    stops.push(mon.stop);
    await b.consume([q], onMessage, { prefetch });
    // Idle: the consumer waits in BRPOP, so the next message takes the popped path.
    const blocked = async () =>
      String(await raw.client('LIST'))
        .split('\n')
        .some((l) => l.includes(` name=${name}-blocking `) && /\bflags=\S*b/.test(l));
    await waitUntil(blocked, 5000, 'the consumer to block in BRPOP');
    const message = buildTaskMessage({
      id: uniq('id'),
      name: 'tasks.t',
      args: [1],
      kwargs: {},
      origin: 'gen1@test',
      replyTo: '',
      now: new Date(),
    });
    return { b, store, q, prefix, message, seen: mon.seen, blocked };
  }

  beforeAll(() => {
    raw = rawClient(DB);
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) stop();
    await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
    for (const p of prefixes.splice(0)) await deletePrefix(p, DB);
  });
  afterAll(() => raw.disconnect());

  /** Wait for the one delivery, then for its record in `unacked`; its tag. */
  async function recorded(prefix: string, got: Delivery[]): Promise<string> {
    await waitUntil(() => got.length === 1, 10_000, 'the delivery');
    const tag = tagOf(got[0]) as string;
    const inUnacked = async () => (await raw.hexists(`${prefix}unacked`, tag)) === 1;
    await waitUntil(inUnacked, 5000, 'the record in unacked');
    return tag;
  }

  const wrote = (seen: string[][], cmd: string, tag: string) =>
    seen.filter((c) => c[0]?.toLowerCase() === cmd && c.includes(tag)).length;

  it('an ack in the turn of the pop writes nothing: the message never enters unacked', async () => {
    const got: Delivery[] = [];
    const c = await idleConsumer((d) => {
      got.push(d);
      void d.ack(); // acks early: at start, in the same turn
    }, 10);
    await c.b.publish(c.q, c.message);
    await waitUntil(() => got.length === 1, 10_000, 'the delivery');
    // Back in BRPOP: the take after the message (and any record) has run.
    await waitUntil(c.blocked, 5000, 'the consumer to block again');
    const tag = tagOf(got[0]) as string;
    expect(c.seen.some((x) => x.some((a) => a.includes(tag)))).toBe(true); // the watch saw the message
    expect(wrote(c.seen, 'hset', tag)).toBe(0);
    expect(wrote(c.seen, 'zadd', tag)).toBe(0);
    expect(wrote(c.seen, 'hdel', tag)).toBe(0);
    expect(await raw.hexists(`${c.prefix}unacked`, tag)).toBe(0);
    expect(await c.b.size(c.q)).toBe(0);
    expect(c.store.heldCount).toBe(0);
  });

  it('a message held past its turn is recorded with the next take, and its ack removes it', async () => {
    const got: Delivery[] = [];
    const c = await idleConsumer((d) => got.push(d), 10);
    await c.b.publish(c.q, c.message);
    const tag = await recorded(c.prefix, got);
    expect(await raw.zscore(`${c.prefix}unacked_index`, tag)).not.toBeNull();
    // One script call recorded it and looked for more (RPOP): the record did not cost a call of its own.
    const hset = c.seen.findIndex((x) => x[0]?.toLowerCase() === 'hset' && x.includes(tag));
    const lpush = c.seen.findIndex((x) => x[0]?.toLowerCase() === 'lpush');
    const evals = c.seen.slice(lpush, hset).filter((x) => x[0]?.toLowerCase() === 'evalsha').length;
    expect(lpush).toBeGreaterThanOrEqual(0);
    const rpop = c.seen.slice(hset).findIndex((x) => x[0]?.toLowerCase() === 'rpop');
    const nextEval = c.seen.slice(hset).findIndex((x) => x[0]?.toLowerCase() === 'evalsha');
    expect(evals).toBe(1);
    expect(rpop).toBeGreaterThan(0);
    if (nextEval >= 0) expect(rpop).toBeLessThan(nextEval);
    await got[0]?.ack();
    expect(await raw.hexists(`${c.prefix}unacked`, tag)).toBe(0);
    expect(c.store.heldCount).toBe(0);
  });

  it('with no room for another take, the record is written by itself at the end of the turn', async () => {
    const got: Delivery[] = [];
    const c = await idleConsumer((d) => got.push(d), 1);
    await c.b.publish(c.q, c.message);
    const tag = await recorded(c.prefix, got);
    const entry = JSON.parse((await raw.hget(`${c.prefix}unacked`, tag)) as string);
    expect(entry[0].properties.delivery_tag).toBe(tag);
    expect(entry.slice(1)).toEqual(['', c.q]);
  });

  it('a requeue in the turn of the pop puts the message back at the front, not lost', async () => {
    const got: Delivery[] = [];
    const c = await idleConsumer((d) => {
      got.push(d);
      if (got.length === 1) void d.reject(true);
    }, 10);
    await c.b.publish(c.q, c.message);
    await waitUntil(() => got.length === 2, 10_000, 'the redelivery');
    const tag = tagOf(got[0]) as string;
    expect(tagOf(got[1])).toBe(tag);
    expect(got[1]?.redelivered).toBe(true);
    await got[1]?.ack();
    await waitUntil(async () => (await raw.hexists(`${c.prefix}unacked`, tag)) === 0, 5000, 'ack');
    expect(await c.b.size(c.q)).toBe(0);
  });
});

describe.skipIf(skipRedis)('an idle worker on Redis: what it writes for one task', () => {
  it("writes the task's result before it looks for the next message", async () => {
    const url = `redis://127.0.0.1:6379/${DB}`;
    const app = new Celeriac({ broker: url, backend: url });
    const q = uniq('idle-rt');
    const id = uniq('id');
    const t = app.task('popped.noop', () => 1, { queue: q });
    const raw = rawClient(DB);
    // One watch for both: the queue's commands and the result's, in the server's order.
    const mon = await watch(raw, [q, id]);
    const w = app.worker({ queues: [q], concurrency: 10, mingle: false, logger: createLogger('error') });
    try {
      await w.start();
      const brpops = () => mon.seen.filter((x) => x[0]?.toLowerCase() === 'brpop').length;
      await waitUntil(() => brpops() > 0, 5000, 'the worker to wait in BRPOP');
      const r = await t.applyAsync([], { taskId: id });
      expect(await r.get({ timeout: 10 })).toBe(1);
      const before = brpops();
      await waitUntil(() => brpops() > before, 5000, 'the worker to wait in BRPOP again');
      const at = (cmd: string, from = 0) =>
        mon.seen.findIndex((x, i) => i >= from && x[0]?.toLowerCase() === cmd);
      const pushed = at('lpush');
      const stored = at('setex', pushed);
      const rpop = at('rpop', pushed);
      expect(pushed).toBeGreaterThanOrEqual(0);
      expect(stored).toBeGreaterThan(pushed);
      expect(rpop).toBeGreaterThan(stored);
    } finally {
      mon.stop();
      await w.stop();
      await app.close();
      raw.disconnect();
    }
  });
});
