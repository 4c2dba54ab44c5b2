/**
 * The broadcast conformance suite (src/brokers/broadcast.ts): every broker whose capabilities declare
 * `broadcast` runs it from its conformance file. Each test uses its own exchange and queue names.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BroadcastMessage, Exchange, Subscription } from '../../src/brokers/broadcast.js';
import type { Broker } from '../../src/brokers/broker.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { uniq, waitUntil } from '../helpers/services.js';

export function eventMessage(n: number, headers: Record<string, unknown> = {}): WireMessage {
  return {
    body: Buffer.from(JSON.stringify({ type: 'worker-heartbeat', n, s: 'é✓' })),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { hostname: 'w1@h', ...headers },
    properties: { delivery_mode: 1 },
  };
}

const numberOf = (m: BroadcastMessage): number => (JSON.parse(m.message.body.toString()) as { n: number }).n;

export interface BroadcastHarness {
  skip?: boolean;
  /** Cut every connection of `b` as a network failure would (the broker reconnects on its own). */
  sever?: (b: Broker) => Promise<void>;
  /** Put a message that cannot be decoded where subscribers of `exchange` on `b` would receive it. */
  injectUndecodable?: (b: Broker, exchange: Exchange, routingKey: string) => Promise<void>;
}

export function broadcastConformance(
  label: string,
  /** A new broker on the same namespace (a second connection, as a second process would have). */
  create: () => Promise<Broker>,
  opts: BroadcastHarness = {},
): void {
  describe.skipIf(opts.skip)(`broadcast conformance: ${label}`, () => {
    const open: Broker[] = [];
    const subs: Subscription[] = [];
    const make = async () => {
      const b = await create();
      await b.connect();
      open.push(b);
      return b;
    };
    afterEach(async () => {
      await Promise.all(subs.splice(0).map((s) => s.close().catch(() => {})));
      await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
    });

    it('delivers a fanout message to every subscriber of another connection, body and headers intact', async (ctx) => {
      const [a, b] = [await make(), await make()];
      if (!a.capabilities.broadcast) return ctx.skip();
      const ex: Exchange = { name: uniq('fx'), type: 'fanout' };
      const got1: BroadcastMessage[] = [];
      const got2: BroadcastMessage[] = [];
      subs.push(await b.broadcast!.subscribe(ex, '', (m) => got1.push(m), { queue: uniq('q1') }));
      subs.push(await b.broadcast!.subscribe(ex, '', (m) => got2.push(m), { queue: uniq('q2') }));
      await a.broadcast!.publish(ex, '', eventMessage(1, { clock: 7 }));
      await waitUntil(() => got1.length === 1 && got2.length === 1, 10_000, 'both subscribers');
      const m = got1[0] as BroadcastMessage;
      expect(m.exchange).toBe(ex.name);
      expect(numberOf(m)).toBe(1);
      expect(JSON.parse(m.message.body.toString()).s).toBe('é✓');
      expect(m.message.headers).toMatchObject({ hostname: 'w1@h', clock: 7 });
    });

    it('filters a topic exchange by binding key', async (ctx) => {
      const [a, b] = [await make(), await make()];
      if (!a.capabilities.broadcast) return ctx.skip();
      const ex: Exchange = { name: uniq('tx'), type: 'topic' };
      const all: BroadcastMessage[] = [];
      const workers: BroadcastMessage[] = [];
      subs.push(await b.broadcast!.subscribe(ex, '#', (m) => all.push(m), { queue: uniq('all') }));
      subs.push(await b.broadcast!.subscribe(ex, 'worker.#', (m) => workers.push(m), { queue: uniq('w') }));
      await a.broadcast!.publish(ex, 'task.succeeded', eventMessage(1));
      await a.broadcast!.publish(ex, 'worker.heartbeat', eventMessage(2));
      await waitUntil(() => all.length === 2 && workers.length === 1, 10_000, 'routed events');
      expect(all.map(numberOf).sort()).toEqual([1, 2]);
      expect(workers.map(numberOf)).toEqual([2]);
      expect(workers[0]?.routingKey).toBe('worker.heartbeat');
    });

    it('stops delivering once a subscription is closed', async (ctx) => {
      const [a, b] = [await make(), await make()];
      if (!a.capabilities.broadcast) return ctx.skip();
      const ex: Exchange = { name: uniq('cx'), type: 'fanout' };
      const gone: BroadcastMessage[] = [];
      const kept: BroadcastMessage[] = [];
      const s = await b.broadcast!.subscribe(ex, '', (m) => gone.push(m), { queue: uniq('g') });
      subs.push(await b.broadcast!.subscribe(ex, '', (m) => kept.push(m), { queue: uniq('k') }));
      await s.close();
      await a.broadcast!.publish(ex, '', eventMessage(1));
      await waitUntil(() => kept.length === 1, 10_000, 'the open subscriber');
      expect(gone).toEqual([]);
    });

    it('routes a reply to the reply queue of its routing key only, including replies sent before reading', async (ctx) => {
      const [client, worker] = [await make(), await make()];
      if (!client.capabilities.broadcast) return ctx.skip();
      const ex = uniq('reply.x');
      const [oid, other] = [uniq('oid'), uniq('oid')];
      const mine: BroadcastMessage[] = [];
      const theirs: BroadcastMessage[] = [];
      subs.push(await client.broadcast!.replyQueue(ex, oid, `${oid}.${ex}`, (m) => mine.push(m)));
      subs.push(await client.broadcast!.replyQueue(ex, other, `${other}.${ex}`, (m) => theirs.push(m)));
      await worker.broadcast!.reply(ex, oid, eventMessage(1, { ticket: 't1' }));
      await worker.broadcast!.reply(ex, oid, eventMessage(2, { ticket: 't1' }));
      await waitUntil(() => mine.length === 2, 10_000, 'two replies');
      expect(mine.map(numberOf)).toEqual([1, 2]);
      expect(mine[0]?.message.headers).toMatchObject({ ticket: 't1' });
      expect(theirs).toEqual([]);
    });

    it('drops a reply nobody has a queue for, and a publish nobody subscribes to, without error', async (ctx) => {
      const a = await make();
      if (!a.capabilities.broadcast) return ctx.skip();
      await expect(
        a.broadcast!.reply(uniq('reply.x'), uniq('nobody'), eventMessage(1)),
      ).resolves.toBeUndefined();
      await expect(
        a.broadcast!.publish({ name: uniq('fx'), type: 'fanout' }, '', eventMessage(2)),
      ).resolves.toBeUndefined();
    });

    it('delivers many messages from one publisher in order', async (ctx) => {
      const [a, b] = [await make(), await make()];
      if (!a.capabilities.broadcast) return ctx.skip();
      const ex: Exchange = { name: uniq('ox'), type: 'topic' };
      const got: number[] = [];
      subs.push(await b.broadcast!.subscribe(ex, '#', (m) => got.push(numberOf(m)), { queue: uniq('o') }));
      const n = 200;
      for (let i = 0; i < n; i++) await a.broadcast!.publish(ex, 'task.sent', eventMessage(i));
      await waitUntil(() => got.length === n, 20_000, `${n} messages`);
      expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    });

    it("a topic binding's * matches one word, # any number", async (ctx) => {
      const [a, b] = [await make(), await make()];
      if (!a.capabilities.broadcast) return ctx.skip();
      const ex: Exchange = { name: uniq('wx'), type: 'topic' };
      const star: string[] = [];
      const hash: string[] = [];
      subs.push(
        await b.broadcast!.subscribe(ex, 'worker.*', (m) => star.push(m.routingKey), { queue: uniq('s') }),
      );
      subs.push(
        await b.broadcast!.subscribe(ex, 'worker.#', (m) => hash.push(m.routingKey), { queue: uniq('h') }),
      );
      await a.broadcast!.publish(ex, 'worker.a.b', eventMessage(1));
      await a.broadcast!.publish(ex, 'worker.online', eventMessage(2));
      await waitUntil(() => hash.length === 2 && star.length === 1, 10_000, 'routed events');
      expect(star).toEqual(['worker.online']);
      expect(hash).toEqual(['worker.a.b', 'worker.online']);
    });

    it('a subscriber that throws does not stop the others, nor its own later messages', async (ctx) => {
      const [a, b] = [await make(), await make()];
      if (!a.capabilities.broadcast) return ctx.skip();
      const ex: Exchange = { name: uniq('ex'), type: 'fanout' };
      const errors: Error[] = [];
      const thrower: number[] = [];
      const other: number[] = [];
      const onError = (e: Error) => errors.push(e);
      const bad = (m: BroadcastMessage) => {
        thrower.push(numberOf(m));
        throw new Error('handler bug');
      };
      subs.push(await b.broadcast!.subscribe(ex, '', bad, { queue: uniq('t'), onError }));
      subs.push(await b.broadcast!.subscribe(ex, '', (m) => other.push(numberOf(m)), { queue: uniq('o') }));
      await a.broadcast!.publish(ex, '', eventMessage(1));
      await a.broadcast!.publish(ex, '', eventMessage(2));
      await waitUntil(() => other.length === 2 && thrower.length === 2, 10_000, 'both messages twice');
      expect(other).toEqual([1, 2]);
      expect(errors.length).toBe(2);
    });

    it.skipIf(!opts.injectUndecodable)(
      'reports an undecodable broadcast message through onError and keeps receiving',
      async (ctx) => {
        const [a, b] = [await make(), await make()];
        if (!a.capabilities.broadcast) return ctx.skip();
        const ex: Exchange = { name: uniq('ux'), type: 'fanout' };
        const errors: Error[] = [];
        const got: number[] = [];
        subs.push(
          await b.broadcast!.subscribe(ex, '', (m) => got.push(numberOf(m)), {
            queue: uniq('u'),
            onError: (e) => errors.push(e),
          }),
        );
        await opts.injectUndecodable!(a, ex, '');
        await a.broadcast!.publish(ex, '', eventMessage(1));
        await waitUntil(() => got.length === 1 && errors.length === 1, 10_000, 'error then message');
        expect(got).toEqual([1]);
        expect(errors[0]).toBeInstanceOf(Error);
      },
    );

    it.skipIf(!opts.sever)(
      'resubscribes and keeps its reply queue after the connection is cut',
      async (ctx) => {
        const [a, b] = [await make(), await make()];
        if (!a.capabilities.broadcast) return ctx.skip();
        const ex: Exchange = { name: uniq('rx'), type: 'fanout' };
        const rex = uniq('reply.x');
        const oid = uniq('oid');
        const got: number[] = [];
        const replies: number[] = [];
        const quiet = { queue: uniq('r'), onError: () => {} };
        subs.push(await b.broadcast!.subscribe(ex, '', (m) => got.push(numberOf(m)), quiet));
        subs.push(
          await b.broadcast!.replyQueue(rex, oid, `${oid}.${rex}`, (m) => replies.push(numberOf(m)), {
            onError: () => {},
          }),
        );
        await a.broadcast!.publish(ex, '', eventMessage(1));
        await waitUntil(() => got.length === 1, 10_000, 'the first message');
        await opts.sever!(b);
        // Fire-and-forget: what is published while the subscriber is away is lost, so publish until one
        // arrives after the reconnect.
        for (let i = 2; got.length < 2; i++) {
          await a.broadcast!.publish(ex, '', eventMessage(i)).catch(() => {});
          await waitUntil(() => got.length >= 2, 100, 'resubscribed').catch(() => {});
          if (i > 200) throw new Error('no message after the reconnect (20 s of publishing)');
        }
        await a.broadcast!.reply(rex, oid, eventMessage(7));
        await waitUntil(() => replies.length === 1, 20_000, 'the reply after the reconnect');
        expect(replies).toEqual([7]);
      },
    );

    it('a closed reply queue drops later replies and loses what it held', async (ctx) => {
      const [client, worker] = [await make(), await make()];
      if (!client.capabilities.broadcast) return ctx.skip();
      const ex = uniq('reply.x');
      const oid = uniq('oid');
      const first: number[] = [];
      const q = await client.broadcast!.replyQueue(ex, oid, `${oid}.${ex}`, (m) => first.push(numberOf(m)));
      await worker.broadcast!.reply(ex, oid, eventMessage(1));
      await waitUntil(() => first.length === 1, 10_000, 'the first reply');
      await q.close();
      await worker.broadcast!.reply(ex, oid, eventMessage(2));
      const again: number[] = [];
      subs.push(await client.broadcast!.replyQueue(ex, oid, `${oid}.${ex}`, (m) => again.push(numberOf(m))));
      await worker.broadcast!.reply(ex, oid, eventMessage(3));
      await waitUntil(() => again.length === 1, 10_000, 'the reply to the new queue');
      expect(again).toEqual([3]);
      expect(first).toEqual([1]);
    }, 60_000);
  });
}
