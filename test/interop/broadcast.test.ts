/**
 * Broadcast interop with Python Celery 5.2 / kombu 5.2 (py/broadcast_driver.py) on Redis (with a
 * global_keyprefix, on both sides) and RabbitMQ (a private vhost), both ways:
 *  - a Python events Dispatcher publishes on `celeryev`, our subscription receives it, key and body intact;
 *  - we publish `worker-heartbeat` with routing key `worker.heartbeat`, a consumer on a Python event
 *    receiver's queue (bound `#`) receives it;
 *  - app.control.broadcast's request on `celery.pidbox` reaches our subscription;
 *  - kombu's Node.reply (how a Python worker answers a control request) reaches our reply queue;
 *  - our reply reaches the reply queue a Python Mailbox opened, and Mailbox._collect returns it.
 * Skipped locally when the broker or Python Celery is missing; fails in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import type { BroadcastMessage, Exchange } from '../../src/brokers/broadcast.js';
import type { Broker } from '../../src/brokers/broker.js';
import { createRedisBroker } from '../../src/brokers/redis/index.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { inCI, portOpen, uniq, waitUntil } from '../helpers/services.js';
import { PyDriver, pythonCeleryAvailable } from './harness.js';

const REPLY_EXCHANGE = 'reply.celery.pidbox';

function json(body: unknown, headers: Record<string, unknown> = {}): WireMessage {
  return {
    body: Buffer.from(JSON.stringify(body)),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers,
    properties: { delivery_mode: 1 },
  };
}

interface Heard {
  routing_key: string;
  body: Record<string, unknown>;
  headers: Record<string, unknown>;
  content_type: string;
}

function interop(
  label: string,
  skip: boolean,
  setup: () => { broker: Broker; env: Record<string, string> },
  events: Exchange,
  cleanup: () => Promise<void> = async () => {},
): void {
  describe.skipIf(skip)(`broadcast interop (${label}) with Python Celery 5.2`, () => {
    let broker: Broker;
    let py: PyDriver;
    beforeAll(async () => {
      const s = setup();
      broker = s.broker;
      await broker.connect();
      py = new PyDriver({ ...s.env, PYTHONUNBUFFERED: '1' }, 'broadcast_driver.py');
    }, 60_000);
    afterAll(async () => {
      await py?.close();
      await broker?.close();
      await cleanup();
    }, 60_000);

    it('receives an event a Python Dispatcher sends, with its routing key and body intact', async () => {
      const got: BroadcastMessage[] = [];
      const sub = await broker.broadcast!.subscribe(events, '#', (m) => got.push(m), {
        queue: `celeryev.${uniq('ts')}`,
        messageTtlMs: 5000,
        expiresMs: 60_000,
      });
      try {
        await py.call('dispatch', {
          hostname: 'py@h',
          type: 'worker-heartbeat',
          fields: { freq: 2.0, custom: 'é✓ 日本' },
        });
        await waitUntil(() => got.length >= 1, 15_000, 'the Python event');
      } finally {
        await sub.close();
      }
      const m = got[0] as BroadcastMessage;
      expect(m.exchange).toBe('celeryev');
      expect(m.routingKey).toBe('worker.heartbeat');
      expect(m.message.contentType).toBe('application/json');
      const body = JSON.parse(m.message.body.toString('utf8'));
      expect(body).toMatchObject({ type: 'worker-heartbeat', hostname: 'py@h', freq: 2, custom: 'é✓ 日本' });
      expect(typeof body.clock).toBe('number');
      expect(m.message.headers).toMatchObject({ hostname: 'py@h' });
    }, 30_000);

    it('a Python event receiver bound to # receives our worker-heartbeat', async () => {
      await py.call('listen');
      const event = (n: number) =>
        json(
          {
            type: 'worker-heartbeat',
            hostname: 'ts@h',
            timestamp: Date.now() / 1000,
            utcoffset: 0,
            pid: process.pid,
            clock: n,
            freq: 2,
            active: 0,
            processed: 0,
            n,
            s: 'é✓',
          },
          { hostname: 'ts@h' },
        );
      // The receiver's subscription settles inside its drain loop (PSUBSCRIBE on Redis), so publish until
      // the first one is heard: events are fire-and-forget, as for a Python worker.
      let heard: Heard[] = [];
      for (let n = 1; !heard.length; n++) {
        if (n > 150) throw new Error(`Python never heard our event:\n${py.stderr}`);
        await broker.broadcast!.publish(events, 'worker.heartbeat', event(n));
        await new Promise((r) => setTimeout(r, 100));
        heard = await py.call<Heard[]>('heard');
      }
      const h = heard[0] as Heard;
      expect(h.routing_key).toBe('worker.heartbeat');
      expect(h.content_type).toBe('application/json');
      expect(h.body).toMatchObject({ type: 'worker-heartbeat', hostname: 'ts@h', s: 'é✓' });
      expect(h.headers).toMatchObject({ hostname: 'ts@h' });
    }, 30_000);

    it('receives a control request app.control.broadcast sends on celery.pidbox', async () => {
      const got: BroadcastMessage[] = [];
      const sub = await broker.broadcast!.subscribe(
        { name: 'celery.pidbox', type: 'fanout' },
        '',
        (m) => got.push(m),
        { queue: `${uniq('ts')}@h.celery.pidbox`, messageTtlMs: 300_000, expiresMs: 10_000 },
      );
      try {
        await py.call('control', { command: 'ping', arguments: { n: 1 }, destination: ['ts@h'] });
        await waitUntil(() => got.length >= 1, 15_000, 'the control request');
      } finally {
        await sub.close();
      }
      const m = got[0] as BroadcastMessage;
      expect(m.exchange).toBe('celery.pidbox');
      expect(JSON.parse(m.message.body.toString('utf8'))).toMatchObject({
        method: 'ping',
        arguments: { n: 1 },
        destination: ['ts@h'],
      });
      expect(typeof m.message.headers.clock).toBe('number');
    }, 30_000);

    it("kombu's Node.reply (a Python worker's control reply) reaches our reply queue", async () => {
      const oid = uniq('oid');
      const got: BroadcastMessage[] = [];
      const q = await broker.broadcast!.replyQueue(REPLY_EXCHANGE, oid, `${oid}.${REPLY_EXCHANGE}`, (m) =>
        got.push(m),
      );
      try {
        await py.call('node_reply', {
          hostname: 'py@h',
          data: { 'py@h': { ok: 'pong' } },
          exchange: REPLY_EXCHANGE,
          routing_key: oid,
          ticket: 'ticket-1',
        });
        await waitUntil(() => got.length === 1, 15_000, 'the Python reply');
      } finally {
        await q.close();
      }
      const m = got[0] as BroadcastMessage;
      expect(JSON.parse(m.message.body.toString('utf8'))).toEqual({ 'py@h': { ok: 'pong' } });
      expect(m.message.headers).toMatchObject({ ticket: 'ticket-1' });
      expect(typeof m.message.headers.clock).toBe('number');
    }, 30_000);

    it("our reply reaches a Python Mailbox's reply queue and _collect returns it", async () => {
      const oid = await py.call<string>('open_reply_queue');
      await broker.broadcast!.reply(
        REPLY_EXCHANGE,
        oid,
        json({ 'ts@h': { ok: 'pong' } }, { ticket: 'ticket-2', clock: 3 }),
      );
      const replies = await py.call<unknown[]>('collect', { ticket: 'ticket-2', limit: 1, timeout: 10 });
      expect(replies).toEqual([{ 'ts@h': { ok: 'pong' } }]);
    }, 30_000);
  });
}

{
  const prefix = `${uniq('bci')}:`;
  const url = 'redis://127.0.0.1:6379/11';
  interop(
    'redis',
    (skipRedis || !pythonCeleryAvailable) && !inCI,
    () => ({
      broker: createRedisBroker(new URL(url), { globalKeyprefix: prefix }),
      env: { INTEROP_BROKER: url, INTEROP_KEYPREFIX: prefix },
    }),
    // Celery turns celeryev into a fanout exchange on Redis (celery/events/event.py get_exchange).
    { name: 'celeryev', type: 'fanout' },
    () => deletePrefix(prefix, 11),
  );
}

{
  const skip = (!pythonCeleryAvailable || !(await portOpen(RABBIT_PORT))) && !inCI;
  const vhostUrl = usePrivateVhost(skip);
  interop(
    'amqp',
    skip,
    () => ({
      broker: new AmqpBroker(new URL(vhostUrl()), { connectionName: uniq('bci') }),
      env: { INTEROP_BROKER: vhostUrl() },
    }),
    { name: 'celeryev', type: 'topic', durable: true },
  );
}
