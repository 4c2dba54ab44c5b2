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

export function broadcastConformance(
  label: string,
  /** A new broker on the same namespace (a second connection, as a second process would have). */
  create: () => Promise<Broker>,
  opts: { skip?: boolean } = {},
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
  });
}
