/**
 * Publisher confirms, pipelined (src/brokers/amqp/publisher.ts), on the machine's RabbitMQ in a private
 * vhost: many publishes in flight at once, each settled by its own confirm; a nack fails only its own
 * message; a connection closed with publishes in flight settles every one of them (none hangs), and the
 * ones that fail are exactly those RabbitMQ had not confirmed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import { BrokerError } from '../../src/errors.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { RABBIT_PORT, setQueuePolicy, usePrivateVhost } from '../helpers/rabbit.js';
import { inCI, skipUnless, uniq } from '../helpers/services.js';

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

const msg = (n: number): WireMessage => ({
  body: Buffer.from(JSON.stringify([[n], {}, {}])),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { task: 't', id: `id-${n}`, timelimit: [null, null], retries: 0 },
  properties: { correlation_id: `id-${n}`, reply_to: 'r', delivery_mode: 2, priority: 0 },
});

/** Each publish's own outcome, in the order they were started. */
type Settled = { n: number; ok: boolean; err?: unknown };
function track(ps: Promise<void>[]): Promise<Settled[]> {
  return Promise.all(
    ps.map((p, n) =>
      p.then(
        () => ({ n, ok: true }),
        (err: unknown) => ({ n, ok: false, err }),
      ),
    ),
  );
}

describe.skipIf(skip)('AMQP publisher confirms, pipelined', () => {
  it('keeps many publishes in flight at once, each resolved by its own confirm', async () => {
    const b = await broker();
    const q = uniq('inflight');
    await b.declareQueue(q);
    await b.publish(q, msg(-1)); // the channel is open from here: the next writes need no await
    const n = 500;
    let settled = 0;
    const ps = Array.from({ length: n }, (_, i) => b.publish(q, msg(i)).finally(() => settled++));
    // All 500 were written in this tick, before any confirm could arrive (a confirm needs I/O).
    await Promise.resolve();
    expect(settled).toBe(0);
    const out = await track(ps);
    expect(out.every((o) => o.ok)).toBe(true);
    expect(await b.size(q)).toBe(n + 1);
    await b.deleteQueue(q);
  });

  it('rejects only the messages RabbitMQ nacks (a full queue with reject-publish)', async (ctx) => {
    const q = uniq('nack');
    const policy = await setQueuePolicy(vhostUrl(), q, `^${q}$`, {
      'max-length': 3,
      overflow: 'reject-publish',
    });
    if (!policy) {
      if (inCI) throw new Error('rabbitmqctl is needed to set a queue policy');
      ctx.skip();
    }
    const b = await broker();
    await b.declareQueue(q);
    const out = await track(Array.from({ length: 10 }, (_, i) => b.publish(q, msg(i))));
    // The first three fit; each of the other seven is refused on its own, and says so.
    expect(out.filter((o) => o.ok).map((o) => o.n)).toEqual([0, 1, 2]);
    const refused = out.filter((o) => !o.ok);
    expect(refused).toHaveLength(7);
    for (const r of refused) {
      expect(r.err).toBeInstanceOf(BrokerError);
      expect((r.err as BrokerError).message).toMatch(/nack/);
      expect((r.err as BrokerError).retryable).toBe(false);
    }
    // publishMany: the accepted ones stay accepted; the call fails naming how many were refused.
    await b.purge(q);
    const many = b.publishMany(Array.from({ length: 5 }, (_, i) => ({ queue: q, message: msg(i) })));
    await expect(many).rejects.toThrow(/2 of 5 message\(s\) were not published \(2 refused/);
    expect(await b.size(q)).toBe(3);
    await b.deleteQueue(q);
  });

  it('settles every in-flight publish when the connection closes: the unconfirmed ones reject', async () => {
    const b = await broker();
    const q = uniq('closed');
    await b.declareQueue(q);
    await b.publish(q, msg(-1));
    const n = 2000;
    const ps = Array.from({ length: n }, (_, i) => b.publish(q, msg(i)));
    const closing = b.link.close(); // mid-flight: most confirms cannot have arrived yet
    const out = await track(ps);
    await closing;
    const failed = out.filter((o) => !o.ok);
    for (const f of failed) {
      expect(f.err).toBeInstanceOf(BrokerError);
      expect((f.err as BrokerError).message).toMatch(/confirmed|closed/);
    }
    // Every confirmed one is on the queue; nothing was sent again behind the caller's back.
    const check = await broker();
    const stored = await check.size(q);
    expect(stored).toBeGreaterThanOrEqual(out.filter((o) => o.ok).length + 1);
    expect(stored).toBeLessThanOrEqual(n + 1);
    await check.deleteQueue(q);
  });
});
