/**
 * Reconnects against a PRIVATE redis-server started by this file (the shared server on 6379 is never
 * killed): consumption resumes after CLIENT KILL and after the server is killed and restarted, round after
 * round (celery/celery#8030: a worker that silently stops consuming after a reconnect), result waiters
 * survive a lost subscriber, and no message is lost when connections die under load.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../../src/backends/redis/index.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { createRedisBroker } from '../../src/brokers/redis/index.js';
import type { VirtualBroker } from '../../src/brokers/virtual.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import { buildMeta } from '../../src/protocol/result.js';
import { PrivateRedis, rawClient } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';

const haveServer = await new Promise<boolean>((resolve) => {
  import('node:child_process').then(({ spawnSync }) =>
    resolve(spawnSync('redis-server', ['--version']).status === 0),
  );
});

const msg = (n: number) =>
  buildTaskMessage({
    id: `id-${n}`,
    name: 't.n',
    args: [n],
    kwargs: {},
    origin: 'o',
    replyTo: 'r',
    now: new Date(),
  });
const argOf = (d: Delivery) => (JSON.parse(d.message.body.toString()) as [[number]])[0][0];

describe.skipIf(!haveServer && !inCI)('redis reconnects (private redis-server)', () => {
  let server: PrivateRedis;
  let admin: Redis;
  const open: { close(): Promise<void> }[] = [];
  const url = () => new URL(`redis://127.0.0.1:${server.port}/0`);

  beforeAll(async () => {
    server = await PrivateRedis.start();
    admin = rawClient(0, server.port);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
    await admin.flushall().catch(() => {});
  });
  afterAll(async () => {
    admin.disconnect();
    await server.dispose();
  });

  function broker(opts: Record<string, unknown> = {}): VirtualBroker {
    const b = createRedisBroker(url(), { clientName: 'celeriac-test', ...opts });
    open.push(b);
    return b;
  }
  function backend(): RedisBackend {
    const b = createRedisBackend(url());
    open.push(b);
    return b;
  }
  /** Kill every client connection except the admin's own. */
  async function killClients(type: 'normal' | 'pubsub' = 'normal'): Promise<number> {
    return Number(await admin.client('KILL', 'TYPE', type, 'SKIPME', 'yes'));
  }

  it('keeps consuming after CLIENT KILL of all its connections, five times over (#8030)', async () => {
    const consumer = broker();
    const producer = broker();
    await consumer.connect();
    await producer.connect();
    const q = uniq('kill');
    const got: Delivery[] = [];
    const errors: Error[] = [];
    await consumer.consume([q], (d) => got.push(d), { prefetch: 4, onError: (e) => errors.push(e) });
    for (let round = 1; round <= 5; round++) {
      // Wait until the consumer sits in BRPOP, then cut everything.
      await waitUntil(
        async () => String(await admin.call('CLIENT', 'LIST', 'TYPE', 'normal')).includes('cmd=brpop'),
        10_000,
        'consumer blocked in BRPOP',
      );
      expect(await killClients()).toBeGreaterThan(0);
      await producer.publish(q, msg(round));
      await waitUntil(() => got.length === round, 15_000, `delivery after kill #${round}`);
      await got[round - 1]?.ack();
    }
    expect(got.map(argOf)).toEqual([1, 2, 3, 4, 5]);
    expect(await admin.hlen('unacked')).toBe(0);
  });

  it('keeps consuming after the server is killed and restarted', async () => {
    const consumer = broker();
    await consumer.connect();
    const q = uniq('restart');
    const got: Delivery[] = [];
    const errors: Error[] = [];
    await consumer.consume([q], (d) => got.push(d), { prefetch: 4, onError: (e) => errors.push(e) });
    for (let round = 1; round <= 2; round++) {
      await waitUntil(
        async () => String(await admin.call('CLIENT', 'LIST', 'TYPE', 'normal')).includes('cmd=brpop'),
        10_000,
        'consumer blocked in BRPOP',
      );
      await server.restart();
      admin.disconnect();
      admin = rawClient(0, server.port);
      // The server is empty after the restart (no persistence): publish with a fresh producer.
      const producer = broker();
      await producer.connect();
      await producer.publish(q, msg(round));
      await waitUntil(() => got.length === round, 20_000, `delivery after restart #${round}`);
      await got[round - 1]?.ack();
    }
    expect(got.map(argOf)).toEqual([1, 2]);
    // The outage was reported, not swallowed.
    expect(errors.length).toBeGreaterThan(0);
  });

  it('loses no message when connections are killed under load (at-least-once)', async () => {
    const consumer = broker({ visibilityTimeout: 1 });
    const producer = broker();
    await producer.connect();
    await consumer.connect();
    const q = uniq('load');
    const total = 200;
    await producer.publishMany(Array.from({ length: total }, (_, n) => ({ queue: q, message: msg(n) })));
    const seen = new Set<number>();
    let kills = 0;
    await consumer.consume(
      [q],
      (d) => {
        seen.add(argOf(d));
        // Ack on the next tick, like a fast task; kill connections every 40 deliveries.
        setImmediate(() => void d.ack().catch(() => {}));
        if (seen.size % 40 === 0 && kills < 4) {
          kills++;
          void killClients().catch(() => {});
        }
      },
      { prefetch: 8, onError: () => {} },
    );
    // Messages whose take reply was lost sit in unacked until the visibility timeout restores them.
    await waitUntil(() => seen.size === total, 30_000, `all ${total} messages`);
    await waitUntil(
      async () => (await admin.hlen('unacked')) === 0 && (await consumer.size(q)) === 0,
      15_000,
      'nothing left',
    );
    expect(kills).toBe(4);
  });

  it('result waiters survive a killed subscriber connection and a server restart', async () => {
    const waiter = backend();
    const writer = backend();
    await waiter.connect();
    await writer.connect();
    const id1 = uniq('r1');
    const p1 = waiter.waitFor(id1, { timeoutMs: 20_000 });
    await waitUntil(() => waiter.subscriptions === 1, 5000, 'subscribed');
    await killClients('pubsub');
    await writer.store(buildMeta(id1, 'SUCCESS', 1, null, new Date()), { expires: 60 });
    expect((await p1)?.result).toBe(1);

    const id2 = uniq('r2');
    const p2 = waiter.waitFor(id2, { timeoutMs: 30_000 });
    await waitUntil(() => waiter.subscriptions === 1, 5000, 'subscribed');
    await server.restart();
    admin.disconnect();
    admin = rawClient(0, server.port);
    await writer.store(buildMeta(id2, 'SUCCESS', 2, null, new Date()), { expires: 60 });
    expect((await p2)?.result).toBe(2);
    await waitUntil(() => waiter.subscriptions === 0, 5000, 'unsubscribed');
  });
});
