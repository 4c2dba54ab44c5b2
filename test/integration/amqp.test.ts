/**
 * AMQP broker behaviour beyond the conformance suite, on the machine's RabbitMQ in a private vhost:
 * delayed delivery (our answer to long ETAs vs consumer_timeout), consumer-cancel notifications, a
 * connection force-closed by the server, and the URL/option grammar.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RpcBackend } from '../../src/backends/rpc/index.js';
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import { delayedRoutingKey } from '../../src/brokers/amqp/topology.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { createBroker } from '../../src/brokers/registry.js';
import { parseEndpoint, resolveAmqpOptions } from '../../src/drivers/amqp/options.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { buildMeta } from '../../src/protocol/result.js';
import { closeConnectionsNamed, RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { skipUnless, uniq, waitUntil } from '../helpers/services.js';

const skip = await skipUnless(RABBIT_PORT);
const vhostUrl = usePrivateVhost(skip);

const open: AmqpBroker[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
});

async function broker(options: Record<string, unknown> = {}): Promise<AmqpBroker> {
  const b = new AmqpBroker(new URL(vhostUrl()), { reconnectMin: 0.05, reconnectMax: 0.5, ...options });
  await b.connect();
  open.push(b);
  return b;
}

const msg = (n: number, extra: Partial<WireMessage['properties']> = {}): WireMessage => ({
  body: Buffer.from(JSON.stringify([[n], {}, {}])),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { task: 't', id: `id-${n}`, timelimit: [null, null], retries: 0 },
  properties: { correlation_id: `id-${n}`, reply_to: 'r', delivery_mode: 2, priority: 0, ...extra },
});
const num = (d: Delivery) => (JSON.parse(d.message.body.toString()) as [[number]])[0][0];

describe('URL and options', () => {
  it('reads kombu-style URLs: credentials, port, vhost forms', () => {
    const e = (u: string) => parseEndpoint(new URL(u));
    expect(e('amqp://localhost')).toMatchObject({
      username: 'guest',
      password: 'guest',
      port: 5672,
      vhost: '/',
    });
    expect(e('amqp://guest:guest@localhost:5672//').vhost).toBe('/');
    expect(e('amqp://u:p%40ss@h:1234/app')).toMatchObject({
      username: 'u',
      password: 'p@ss',
      port: 1234,
      vhost: 'app',
    });
    expect(e('amqp://h/%2Fx').vhost).toBe('/x');
    expect(e('amqps://h').port).toBe(5671);
  });

  it('takes options from code and the URL query, and names a misspelt one', () => {
    const o = resolveAmqpOptions(new URL('amqp://h/?max_priority=10&heartbeat=5'), { queueType: 'classic' });
    expect(o).toMatchObject({ maxPriority: 10, heartbeat: 5, queueType: 'classic' });
    expect(() => resolveAmqpOptions(new URL('amqp://h/'), { maxPriorty: 10 })).toThrow(
      /Unknown AMQP option "maxPriorty" \(did you mean "maxPriority"\?\)/,
    );
    expect(() => resolveAmqpOptions(new URL('amqp://h/'), { queueType: 'quorum', maxPriority: 10 })).toThrow(
      /quorum/,
    );
  });

  it('registers amqp:// and amqps://', async () => {
    const b = await createBroker('amqp://127.0.0.1/', { maxPriority: 10 });
    expect(b.transport).toBe('amqp');
    expect(b.capabilities).toEqual({
      priority: 'high-first',
      redeliversUnacked: true,
      delayedDelivery: true,
      requeueToFront: false,
      connectionBoundDeliveries: true,
      broadcast: true,
    });
  });

  it('writes the delay as 28 binary digits before the routing key', () => {
    expect(delayedRoutingKey(5, 'celery')).toBe(`${'0.'.repeat(25)}1.0.1.celery`);
  });
});

describe.skipIf(skip)('AMQP broker', () => {
  it('fails fast with the reason on a vhost that does not exist', async () => {
    const b = new AmqpBroker(new URL(`amqp://guest:guest@127.0.0.1:${RABBIT_PORT}/${uniq('novhost')}`), {});
    await expect(b.connect()).rejects.toThrow(/refused to open vhost/);
  });

  it('delays messages until their ETA, shortest first, without holding them unacked', async () => {
    const b = await broker();
    const q = uniq('delay');
    const now = Date.now();
    const etas = [3000, 1000, 2000].map((ms) => new Date(now + ms));
    // A per-message TTL (from `expires`) must not shorten the stay in the delay queues.
    for (const [i, eta] of etas.entries()) await b.publishDelayed(q, msg(i, { expiration: '500' }), eta);
    const got: Array<{ n: number; at: number }> = [];
    await b.consume(
      [q],
      (d) => {
        got.push({ n: num(d), at: Date.now() });
        void d.ack();
      },
      { prefetch: 10 },
    );
    await waitUntil(() => got.length === 3, 20_000, '3 delayed deliveries');
    expect(got.map((g) => g.n)).toEqual([1, 2, 0]);
    for (const g of got) expect(g.at).toBeGreaterThanOrEqual((etas[g.n] as Date).getTime());
  });

  it('publishes at once when the ETA is already due', async () => {
    const b = await broker();
    const q = uniq('due');
    await b.publishDelayed(q, msg(1), new Date(Date.now() - 1000));
    expect(await b.size(q)).toBe(1);
  });

  it('re-consumes after the server cancels the consumer (queue deleted)', async () => {
    const b = await broker();
    const admin = await broker();
    const q = uniq('cancelled');
    const got: Delivery[] = [];
    const errors: Error[] = [];
    await b.consume([q], (d) => got.push(d), { prefetch: 5, onError: (e) => errors.push(e) });
    await admin.deleteQueue(q);
    await waitUntil(
      () => errors.some((e) => /cancelled our consumer/.test(e.message)),
      10_000,
      'cancel notice',
    );
    await waitUntil(
      async () => (await admin.link.admin((ch) => ch.checkQueue(q)).catch(() => null))?.consumerCount === 1,
      10_000,
      'consumer back on the re-declared queue',
    );
    await admin.publish(q, msg(7));
    await waitUntil(() => got.length === 1, 10_000, 'delivery after re-consume');
    expect(num(got[0] as Delivery)).toBe(7);
    await got[0]?.ack();
  });

  it('reconnects after the server closes the connection: resumes consuming, redelivers unacked', async () => {
    const name = uniq('conn');
    const b = await broker({ connectionName: name });
    const q = uniq('reconnect');
    await b.publishMany([1, 2].map((n) => ({ queue: q, message: msg(n) })));
    const got: Delivery[] = [];
    await b.consume([q], (d) => got.push(d), { prefetch: 1, onError: () => {} });
    await waitUntil(() => got.length === 1, 10_000, 'first delivery');
    const generation = b.link.generation;
    expect(await closeConnectionsNamed(name)).toBe(1);
    await waitUntil(
      () => b.link.generation > generation && got.length >= 2,
      20_000,
      'redelivery after reconnect',
    );
    // The unacked message of the dead channel comes back; acking the stale delivery is a harmless no-op.
    await got[0]?.ack();
    expect(num(got[1] as Delivery)).toBe(1);
    expect(got[1]?.redelivered).toBe(true);
    await got[1]?.ack();
    await waitUntil(() => got.length === 3, 10_000, 'second message');
    expect(num(got[2] as Delivery)).toBe(2);
    await got[2]?.ack();
    // Publishing works on the new connection.
    await b.publish(q, msg(3));
    await waitUntil(() => got.length === 4, 10_000, 'message published after the reconnect');
    await got[3]?.ack();
    expect(await b.size(q)).toBe(0);
  });

  it('raises the prefetch window while consuming (setPrefetch)', async () => {
    const b = await broker();
    const q = uniq('grow');
    await b.publishMany(Array.from({ length: 6 }, (_, n) => ({ queue: q, message: msg(n) })));
    const got: Delivery[] = [];
    const c = await b.consume([q], (d) => got.push(d), { prefetch: 2 });
    await waitUntil(() => got.length === 2, 10_000, '2 deliveries');
    c.setPrefetch(5);
    await waitUntil(() => got.length === 5, 10_000, '5 deliveries after raising the window');
    await Promise.all(got.map((d) => d.ack()));
    await waitUntil(() => got.length === 6, 10_000, 'the last one');
    await got[5]?.ack();
  });

  it("publishes without waiting for confirms when confirmPublish is off (kombu's default), in order", async () => {
    const b = await broker({ confirmPublish: false });
    expect(b.options.confirmPublish).toBe(false);
    const q = uniq('noconfirm');
    await b.publish(q, msg(0));
    await b.publishMany(Array.from({ length: 20 }, (_, n) => ({ queue: q, message: msg(n + 1) })));
    const got: number[] = [];
    const c = await b.consume(
      [q],
      (d) => {
        got.push(num(d));
        void d.ack();
      },
      { prefetch: 50 },
    );
    await waitUntil(() => got.length === 21, 10_000, 'all 21 messages');
    await c.cancel();
    expect(got).toEqual(Array.from({ length: 21 }, (_, n) => n));
    expect(resolveAmqpOptions(new URL('amqp://h//?confirm_publish=false'), {}).confirmPublish).toBe(false);
  });
});

describe.skipIf(skip)('rpc:// backend', () => {
  it('keeps results sent while the client reconnects, and delivers them after', async () => {
    const name = uniq('rpc-conn');
    const client = new RpcBackend(new URL('rpc://'), {
      brokerUrl: vhostUrl(),
      connectionName: name,
      reconnectMin: 0.05,
      reconnectMax: 0.5,
    });
    const worker = new RpcBackend(new URL('rpc://'), { brokerUrl: vhostUrl() });
    await Promise.all([client.connect(), worker.connect()]);
    try {
      const [a, b] = [uniq('a'), uniq('b')];
      const first = client.waitFor(a, { timeoutMs: 20_000 });
      await worker.store(
        buildMeta(a, 'SUCCESS', 1, null, new Date()),
        { expires: 60 },
        { replyTo: client.oid, correlationId: null },
      );
      expect((await first)?.result).toBe(1);
      const second = client.waitFor(b, { timeoutMs: 20_000 });
      const generation = client.link.generation;
      expect(await closeConnectionsNamed(name)).toBe(1);
      // Sent while the client is away: the reply queue is not auto-delete, so it is kept for it.
      await worker.store(
        buildMeta(b, 'SUCCESS', 2, null, new Date()),
        { expires: 60 },
        { replyTo: client.oid, correlationId: null },
      );
      expect((await second)?.result).toBe(2);
      expect(client.link.generation).toBeGreaterThan(generation);
      // No reply_to, no result (as Celery): nothing is sent.
      await worker.store(buildMeta(uniq('c'), 'SUCCESS', 3, null, new Date()), { expires: 60 });
    } finally {
      await Promise.all([client.close(), worker.close()]);
    }
  });

  it('says why without an AMQP broker URL, and refuses groups as Celery does', async () => {
    expect(() => new RpcBackend(new URL('rpc://'), {})).toThrow(/needs options.brokerUrl = an amqp:\/\/ URL/);
    expect(() => new RpcBackend(new URL('rpc://'), { brokerUrl: 'redis://x' })).toThrow(/amqp/);
    const b = new RpcBackend(new URL('rpc://'), { brokerUrl: 'amqp://127.0.0.1/' });
    await expect(b.saveGroup('g', ['a'], { expires: 1 })).rejects.toThrow(/cannot save groups/);
    await b.close();
  });
});
