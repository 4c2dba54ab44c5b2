/**
 * The broker conformance suite: every Broker adapter runs it (see test/conformance/*.test.ts and the
 * adapters' integration tests). Call it with a factory that returns a fresh broker bound to an isolated
 * namespace (unique DB file, key prefix, vhost …); each test uses its own queue names too.
 *
 * What a broker supports is read from its declared `capabilities` (src/brokers/broker.ts), never from
 * flags of the calling file: a test that does not apply is skipped with the capability as its reason.
 * The harness supplies only what a test cannot do through the Broker contract (cutting a connection,
 * killing a consumer).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, Delivery } from '../../src/brokers/broker.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { uniq, waitUntil } from '../helpers/services.js';

export interface BrokerHarness {
  /** A new broker on the same namespace (a second connection, as a second process would have). */
  create(): Promise<Broker>;
  /** Called once after each test. */
  cleanup?(): Promise<void>;
  /**
   * Drop `b`'s connections as a network failure would (no close; `b` may reconnect). Required where
   * capabilities.connectionBoundDeliveries; others may provide it to show their deliveries survive it.
   */
  sever?(b: Broker): Promise<void>;
  /**
   * Required where capabilities.redeliversUnacked: `create` a broker (with a short visibility timeout where
   * restore waits for one) and `kill` it as a killed process dies: no close, nothing settled afterwards.
   * `skip` instead gives the reason it cannot be done in this process (and where it is tested).
   */
  crash?: { create(): Promise<Broker>; kill(b: Broker): Promise<void> } | { skip: string };
}

function message(n: number, extra: Partial<WireMessage> = {}): WireMessage {
  return {
    body: Buffer.from(
      JSON.stringify([[n], { s: 'é✓' }, { callbacks: null, errbacks: null, chain: null, chord: null }]),
    ),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {
      lang: 'py',
      task: 't.n',
      id: `id-${n}`,
      eta: null,
      timelimit: [null, 5],
      retries: 0,
      ignore_result: false,
    },
    properties: { correlation_id: `id-${n}`, reply_to: 'r', delivery_mode: 2, priority: 0 },
    ...extra,
  };
}

const numberOf = (d: Delivery): number => (JSON.parse(d.message.body.toString()) as [[number]])[0][0];

export function brokerConformance(
  label: string,
  harness: () => Promise<BrokerHarness>,
  /** `skip`: the service is down (skipUnless: true only outside CI). */
  opts: { skip?: boolean } = {},
): void {
  describe.skipIf(opts.skip)(`broker conformance: ${label}`, () => {
    const open: Broker[] = [];
    let h: BrokerHarness;
    const connected = async (b: Broker) => {
      await b.connect();
      open.push(b);
      return b;
    };
    const make = async () => {
      h ??= await harness();
      return connected(await h.create());
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
      await h?.cleanup?.();
    });

    it('round-trips body, headers and properties exactly', async () => {
      const b = await make();
      const q = uniq('rt');
      const sent = message(1, {
        properties: { correlation_id: 'c1', reply_to: 'r1', delivery_mode: 2, priority: 0 },
      });
      await b.publish(q, sent);
      const got: Delivery[] = [];
      await b.consume([q], (d) => got.push(d), { prefetch: 10 });
      await waitUntil(() => got.length === 1, 10_000, 'delivery');
      const d = got[0] as Delivery;
      expect(d.queue).toBe(q);
      expect(d.redelivered).toBe(false);
      expect(Buffer.compare(d.message.body, sent.body)).toBe(0);
      expect(d.message.contentType).toBe('application/json');
      expect(d.message.contentEncoding).toBe('utf-8');
      expect(d.message.headers).toMatchObject(sent.headers);
      expect(d.message.properties).toMatchObject({ correlation_id: 'c1', reply_to: 'r1' });
      await d.ack();
    });

    it('delivers FIFO within a queue and from several queues', async () => {
      const b = await make();
      const [q1, q2] = [uniq('fifo1'), uniq('fifo2')];
      await b.publishMany([1, 2, 3].map((n) => ({ queue: q1, message: message(n) })));
      await b.publishMany([4, 5].map((n) => ({ queue: q2, message: message(n) })));
      const got: Delivery[] = [];
      await b.consume([q1, q2], (d) => got.push(d), { prefetch: 0 });
      await waitUntil(() => got.length === 5, 10_000, '5 deliveries');
      const fromQ1 = got.filter((d) => d.queue === q1).map(numberOf);
      const fromQ2 = got.filter((d) => d.queue === q2).map(numberOf);
      expect(fromQ1).toEqual([1, 2, 3]);
      expect(fromQ2).toEqual([4, 5]);
      await Promise.all(got.map((d) => d.ack()));
    });

    it('declares optional methods consistently with its capabilities', async () => {
      const b = await make();
      expect(typeof b.publishDelayed === 'function', 'publishDelayed iff delayedDelivery').toBe(
        b.capabilities.delayedDelivery === true,
      );
      expect(b.broadcast !== undefined, 'broadcast iff capabilities.broadcast').toBe(
        b.capabilities.broadcast === true,
      );
    });

    it('serves priorities in the order its capability declares', async (ctx) => {
      const b = await make();
      ctx.skip(b.capabilities.priority === 'none', `${label}: capabilities.priority is 'none'`);
      const q = uniq('prio');
      // One priority per kombu bucket (0/3/6/9): on Redis, priorities inside a bucket stay FIFO.
      const prios = [6, 0, 9, 3];
      for (const [i, p] of prios.entries()) await b.publish(q, message(i, { properties: { priority: p } }));
      const got: Delivery[] = [];
      await b.consume([q], (d) => got.push(d), { prefetch: 0 });
      await waitUntil(() => got.length === 4, 10_000, '4 deliveries');
      const order = got.map((d) => prios[numberOf(d)]);
      expect(order).toEqual(b.capabilities.priority === 'low-first' ? [0, 3, 6, 9] : [9, 6, 3, 0]);
      await Promise.all(got.map((d) => d.ack()));
    });

    it('honours the prefetch window and refills it on ack', async () => {
      const b = await make();
      const q = uniq('qos');
      await b.publishMany(Array.from({ length: 10 }, (_, n) => ({ queue: q, message: message(n) })));
      const got: Delivery[] = [];
      await b.consume([q], (d) => got.push(d), { prefetch: 3 });
      await waitUntil(() => got.length === 3, 10_000, '3 deliveries');
      // Seven stay ready in the broker while the window is full.
      await waitUntil(async () => (await b.size(q)) === 7, 10_000, 'size 7');
      expect(got.length).toBe(3);
      await got[0]?.ack();
      await waitUntil(() => got.length === 4, 10_000, 'a 4th delivery after one ack');
      expect(await b.size(q)).toBe(6);
      await Promise.all(got.map((d) => d.ack()));
    });

    it('requeues on reject(true) with redelivered set, and drops on reject(false)', async () => {
      const b = await make();
      const q = uniq('rej');
      await b.publishMany([1, 2].map((n) => ({ queue: q, message: message(n) })));
      const got: Delivery[] = [];
      await b.consume([q], (d) => got.push(d), { prefetch: 1 });
      await waitUntil(() => got.length === 1, 10_000, 'first');
      await got[0]?.reject(true);
      await waitUntil(() => got.length === 2, 10_000, 'redelivery');
      if (!b.capabilities.requeueToFront && numberOf(got[1] as Delivery) === 2) {
        // Requeued behind message 2: take 2 first, then 1 comes back.
        await got[1]?.ack();
        await waitUntil(() => got.length === 3, 10_000, 'redelivery of 1');
        expect(numberOf(got[2] as Delivery)).toBe(1);
        expect(got[2]?.redelivered).toBe(true);
        await got[2]?.reject(false);
        expect(await b.size(q)).toBe(0);
        return;
      }
      expect(numberOf(got[1] as Delivery)).toBe(1);
      expect(got[1]?.redelivered).toBe(true);
      await got[1]?.reject(false);
      await waitUntil(() => got.length === 3, 10_000, 'second message');
      expect(numberOf(got[2] as Delivery)).toBe(2);
      await got[2]?.ack();
      expect(await b.size(q)).toBe(0);
    });

    it('returns unacked messages to the queue when the consumer closes', async () => {
      const b = await make();
      const q = uniq('restore');
      await b.publishMany([1, 2, 3].map((n) => ({ queue: q, message: message(n) })));
      const got: Delivery[] = [];
      await b.consume([q], (d) => got.push(d), { prefetch: 2 });
      await waitUntil(() => got.length === 2, 10_000, '2 deliveries');
      await got[0]?.ack();
      await b.close();
      const b2 = await make();
      const again: Delivery[] = [];
      await b2.consume([q], (d) => again.push(d), { prefetch: 0 });
      await waitUntil(() => again.length === 2, 10_000, 'the 2 unacked/ready messages');
      expect(again.map(numberOf).sort()).toEqual([2, 3]);
      expect(again.find((d) => numberOf(d) === 2)?.redelivered).toBe(true);
      await Promise.all(again.map((d) => d.ack()));
    });

    it('stops delivering after cancel; purge and size count ready messages', async () => {
      const b = await make();
      const q = uniq('cancel');
      const got: Delivery[] = [];
      const c = await b.consume([q], (d) => got.push(d), { prefetch: 0 });
      await c.cancel();
      await b.publishMany([1, 2, 3].map((n) => ({ queue: q, message: message(n) })));
      expect(await b.size(q)).toBe(3);
      expect(got.length).toBe(0);
      expect(await b.purge(q)).toBe(3);
      expect(await b.size(q)).toBe(0);
    });

    it('carries a 1 MiB body intact', async () => {
      const b = await make();
      const q = uniq('big');
      const body = Buffer.alloc(1024 * 1024, 'x');
      await b.publish(q, message(0, { body }));
      const got: Delivery[] = [];
      await b.consume([q], (d) => got.push(d), { prefetch: 1 });
      await waitUntil(() => got.length === 1, 10_000, 'big delivery');
      expect(got[0]?.message.body.length).toBe(body.length);
      expect(Buffer.compare(got[0]?.message.body as Buffer, body)).toBe(0);
      await got[0]?.ack();
    });

    it('shares queues between two connections (producer and consumer)', async () => {
      const producer = await make();
      const consumer = await make();
      const q = uniq('share');
      const got: Delivery[] = [];
      await consumer.consume([q], (d) => got.push(d), { prefetch: 0 });
      await producer.publishMany(Array.from({ length: 50 }, (_, n) => ({ queue: q, message: message(n) })));
      await waitUntil(() => got.length === 50, 10_000, '50 deliveries');
      expect(new Set(got.map(numberOf)).size).toBe(50);
      await Promise.all(got.map((d) => d.ack()));
    });

    it('delivers a publishDelayed message at its eta, not before', async (ctx) => {
      const b = await make();
      ctx.skip(!b.capabilities.delayedDelivery, `${label}: no capabilities.delayedDelivery`);
      const q = uniq('delayed');
      // Whole seconds ahead: the contract's granularity.
      const eta = new Date(Date.now() + 2000);
      await b.publishDelayed?.(q, message(1), eta);
      // A past ETA publishes at once; a plain publish after both overtakes the delayed one.
      await b.publishDelayed?.(q, message(2), new Date(Date.now() - 1000));
      await b.publish(q, message(3));
      const got: Array<{ n: number; at: number; d: Delivery }> = [];
      await b.consume([q], (d) => got.push({ n: numberOf(d), at: Date.now(), d }), { prefetch: 0 });
      await waitUntil(() => got.length === 3, 15_000, 'the delayed message');
      expect(
        got
          .map((g) => g.n)
          .slice(0, 2)
          .sort(),
      ).toEqual([2, 3]);
      const delayed = got[2] as (typeof got)[number];
      expect(delayed.n).toBe(1);
      expect(delayed.at).toBeGreaterThanOrEqual(eta.getTime());
      expect(delayed.d.message.headers).toMatchObject({ id: 'id-1' });
      await Promise.all(got.map((g) => g.d.ack()));
    });

    it('marks a delivery invalid once the connection that carried it dies, and redelivers it', async (ctx) => {
      const b = await make();
      ctx.skip(
        !b.capabilities.connectionBoundDeliveries,
        `${label}: no capabilities.connectionBoundDeliveries`,
      );
      if (!h.sever) throw new Error(`${label}: connectionBoundDeliveries needs the harness's sever()`);
      const q = uniq('valid');
      await b.publish(q, message(1));
      const got: Delivery[] = [];
      await b.consume([q], (d) => got.push(d), { prefetch: 1, onError: () => {} });
      await waitUntil(() => got.length === 1, 10_000, 'delivery');
      const first = got[0] as Delivery;
      expect(first.valid).toBe(true);
      await h.sever(b);
      await waitUntil(() => first.valid === false, 10_000, 'the delivery to turn invalid');
      // The broker requeued it when the connection died; the reconnected consumer gets it again.
      await waitUntil(() => got.length === 2, 20_000, 'redelivery after reconnect');
      const again = got[1] as Delivery;
      expect(numberOf(again)).toBe(1);
      expect(again.redelivered).toBe(true);
      expect(again.valid).toBe(true);
      await first.ack(); // settling a dead delivery is a no-op, not an error, and leaves the new one alone
      expect(again.valid).toBe(true);
      await again.ack();
      await waitUntil(async () => (await b.size(q)) === 0, 10_000, 'empty queue');
    });

    it('keeps a delivery valid and settleable across a lost connection', async (ctx) => {
      const b = await make();
      ctx.skip(
        b.capabilities.connectionBoundDeliveries === true,
        `${label}: capabilities.connectionBoundDeliveries (deliveries die with their connection)`,
      );
      ctx.skip(!h.sever, `${label}: the harness has no connection to drop (in-process store)`);
      const q = uniq('keep');
      await b.publishMany([1, 2].map((n) => ({ queue: q, message: message(n) })));
      const got: Delivery[] = [];
      await b.consume([q], (d) => got.push(d), { prefetch: 1, onError: () => {} });
      await waitUntil(() => got.length === 1, 10_000, 'delivery');
      await h.sever?.(b);
      expect(got[0]?.valid).toBe(true);
      await got[0]?.ack(); // through the reconnected connection
      await waitUntil(() => got.length === 2, 20_000, 'the next message after the reconnect');
      expect(got[1]?.redelivered).toBe(false);
      await got[1]?.ack();
      // Had either ack been lost, closing would give the message back.
      await b.close();
      const check = await make();
      expect(await check.size(q)).toBe(0);
    });

    it('redelivers the unacked messages of a consumer that died without closing', async (ctx) => {
      const probe = await make();
      ctx.skip(!probe.capabilities.redeliversUnacked, `${label}: no capabilities.redeliversUnacked`);
      const crash = h.crash;
      if (!crash) throw new Error(`${label}: redeliversUnacked needs the harness's crash hooks`);
      if ('skip' in crash) return ctx.skip(crash.skip);
      const holder = await connected(await crash.create());
      const q = uniq('crash');
      await holder.publishMany([1, 2, 3].map((n) => ({ queue: q, message: message(n) })));
      let dead = false;
      const held: Delivery[] = [];
      const back: Delivery[] = [];
      const onMessage = (d: Delivery) => (dead ? back : held).push(d);
      await holder.consume([q], onMessage, { prefetch: 2, onError: () => {} });
      await waitUntil(() => held.length === 2, 10_000, '2 deliveries');
      dead = true;
      await crash.kill(holder);
      // Whoever consumes next gets them back: another connection, or the holder's own after a reconnect.
      const other = await connected(await crash.create());
      await other.consume([q], onMessage, { prefetch: 0, onError: () => {} });
      await waitUntil(() => back.length === 3, 30_000, 'the 2 unacked messages and the ready one');
      expect(back.map(numberOf).sort()).toEqual([1, 2, 3]);
      const heldNumbers = new Set(held.map(numberOf));
      for (const d of back)
        expect(d.redelivered, `message ${numberOf(d)}`).toBe(heldNumbers.has(numberOf(d)));
      await Promise.all(back.map((d) => d.ack()));
    });
  });
}
