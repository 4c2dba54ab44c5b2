/**
 * A Redis restart without persistence (issue 17, defect 5): the `unacked` hash and index are gone, and
 * the worker still holds its deliveries. Lease renewal must tell "the data is gone" (the server's run_id
 * changed) from "another consumer restored them" and keep the messages, recording them again, instead of
 * dropping them. Runs against a PRIVATE redis-server (no persistence) that this file kills and restarts.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/brokers/broker.js';
import { createRedisStore } from '../../src/brokers/redis/index.js';
import type { RedisStore } from '../../src/brokers/redis/store.js';
import { VirtualBroker } from '../../src/brokers/virtual.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import { PrivateRedis, rawClient } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';

const { spawnSync } = await import('node:child_process');
const haveServer = spawnSync('redis-server', ['--version']).status === 0;

const task = (n: number) =>
  buildTaskMessage({
    id: `id-${n}`,
    name: 't.n',
    args: [n],
    kwargs: {},
    origin: 'o',
    replyTo: 'r',
    now: new Date(),
  });

describe.skipIf(!haveServer && !inCI)('redis restart without persistence (private redis-server)', () => {
  let server: PrivateRedis;
  let admin: Redis;

  beforeAll(async () => {
    server = await PrivateRedis.start();
    admin = rawClient(0, server.port);
  });
  afterAll(async () => {
    admin.disconnect();
    await server.dispose();
  });

  it('keeps and records again the messages it holds when the server lost its data', async () => {
    const url = new URL(`redis://127.0.0.1:${server.port}/0`);
    const store: RedisStore = createRedisStore(url, { visibilityTimeout: 8 });
    const broker = new VirtualBroker(store);
    const errors: string[] = [];
    const lost: string[][] = [];
    store.onError = (e) => errors.push(e.message);
    store.onLeaseLost = (tags) => lost.push(tags);
    try {
      await broker.connect();
      const q = uniq('held');
      for (let i = 0; i < 100; i++) await broker.publish(q, task(i));
      const held: Delivery[] = [];
      await broker.consume([q], (d) => held.push(d), { prefetch: 100 });
      await waitUntil(() => held.length === 100, 10_000, 'the consumer holds 100 messages');
      await waitUntil(async () => (await admin.hlen('unacked')) === 100, 10_000, 'all recorded');

      await server.restart(); // SIGKILL: no data on disk, so unacked and unacked_index are gone
      await waitUntil(
        async () => (await admin.ping().catch(() => '')) === 'PONG' && store.client.status === 'ready',
        15_000,
        'the store reconnects',
      );
      expect(await admin.hlen('unacked')).toBe(0);

      await store.renewLeases();
      expect(lost).toEqual([]);
      expect(held.every((d) => d.valid)).toBe(true);
      expect(store.heldCount).toBe(100);
      expect(await admin.hlen('unacked')).toBe(100);
      expect(await admin.zcard('unacked_index')).toBe(100);
      expect(errors.some((m) => /restarted and lost its data.*recorded the 100 message/.test(m))).toBe(true);
      // The recorded entries are real envelopes: a visibility-timeout restore could give them back.
      const entry = JSON.parse((await admin.hvals('unacked'))[0] as string) as [
        { properties: { delivery_tag: string } },
        string,
        string,
      ];
      expect(entry[2]).toBe(q);
      expect(await admin.hexists('unacked', entry[0].properties.delivery_tag)).toBe(1);

      for (const d of held) await d.ack();
      await waitUntil(async () => (await admin.hlen('unacked')) === 0, 10_000, 'acks clear the entries');
      expect(await admin.zcard('unacked_index')).toBe(0);
    } finally {
      await broker.close();
    }
  });

  it('still gives up a lease another consumer restored (no restart: same run_id)', async () => {
    const url = new URL(`redis://127.0.0.1:${server.port}/0`);
    const store = createRedisStore(url, { visibilityTimeout: 8, globalKeyprefix: 'p2:' });
    const broker = new VirtualBroker(store);
    const lost: string[][] = [];
    store.onError = () => {};
    store.onLeaseLost = (tags) => lost.push(tags);
    try {
      await broker.connect();
      const q = uniq('stolen');
      await broker.publish(q, task(1));
      const held: Delivery[] = [];
      await broker.consume([q], (d) => held.push(d), { prefetch: 1 });
      await waitUntil(() => held.length === 1, 10_000, 'taken');
      const tag = (await admin.hkeys('p2:unacked'))[0] as string;
      await admin.multi().hdel('p2:unacked', tag).zrem('p2:unacked_index', tag).exec();
      await store.renewLeases();
      expect(lost).toEqual([[tag]]);
      expect(held[0]?.valid).toBe(false);
    } finally {
      await broker.close();
    }
  });
});
