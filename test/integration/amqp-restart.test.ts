/**
 * A RabbitMQ restart under load loses no acksLate task. The broker is a private RabbitMQ node started by
 * this test on free ports with its own data directory (the shared broker on 5672 is never touched); the
 * worker is the real one (async pool, acksLate), results go to an in-process memory backend.
 *
 * Timeline: 150 tasks published; once 40 are done, the next 8 block in the pool (all slots busy, 32 more
 * prefetched, all unacked) and the node is stopped; the blocked tasks are then released and finish while
 * the broker is down (their acks are lost with the channel); 100 more are published during the outage
 * (the publish waits and re-sends); the node starts again; 50 more. Every one of the 300 ids must reach
 * SUCCESS. The 8 that were running run twice: RabbitMQ redelivers them (at least once, as in Celery).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AmqpBroker } from '../../src/brokers/amqp/index.js';
import { Celeriac } from '../../src/index.js';
import { appInternals } from '../../src/task/publisher.js';
import { createLogger } from '../../src/util/log.js';
import { PrivateRabbit } from '../helpers/rabbit.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';

const canRun = await (async () => {
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('sh', ['-c', 'command -v rabbitmq-server'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!canRun && !inCI)('AMQP: broker restart under load', () => {
  let rabbit: PrivateRabbit;
  beforeAll(async () => {
    rabbit = await PrivateRabbit.create();
    await rabbit.start();
  }, 120_000);
  afterAll(async () => {
    await rabbit?.destroy();
  }, 60_000);

  it('loses no acksLate task when RabbitMQ restarts mid-run', async () => {
    const ns = uniq('restart');
    const settings = {
      broker: rabbit.url,
      brokerTransportOptions: { reconnectMin: 0.1, reconnectMax: 1, connectionName: ns },
      backend: `memory://${ns}`,
      taskAcksLate: true,
    };
    const app = new Celeriac(settings);
    const runs = new Map<number, number>();
    let blocked = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    app.task('restart.work', async (n: number) => {
      runs.set(n, (runs.get(n) ?? 0) + 1);
      if (n >= 40 && n < 150) {
        blocked++;
        await gate;
      }
      return n;
    });
    const client = new Celeriac(settings);
    const logs: string[] = [];
    const worker = app.worker({ concurrency: 8, logger: createLogger('warn', (l) => logs.push(l)) });
    await worker.start();
    const backend = await client.backend();
    const ids: string[] = [];
    const send = async (from: number, count: number) => {
      const calls = Array.from({ length: count }, (_, i) => ({ name: 'restart.work', args: [from + i] }));
      const results = await appInternals(client).publishMany(calls);
      ids.push(...results.map((r) => r.id));
    };
    const done = async () => {
      let n = 0;
      for (const id of ids) if ((await backend.get(id))?.status === 'SUCCESS') n++;
      return n;
    };
    try {
      await send(0, 150);
      await waitUntil(async () => blocked === 8 && (await done()) === 40, 60_000, '40 done, 8 running');
      const broker = (await app.broker()) as AmqpBroker;
      const generation = broker.link.generation;
      await rabbit.stop();
      await waitUntil(() => !broker.link.isUp, 30_000, 'the worker to see the connection go');
      release();
      const duringOutage = send(150, 100); // waits for the broker, then re-sends what was not confirmed
      await rabbit.start();
      await duringOutage;
      await send(250, 50);
      await waitUntil(async () => (await done()) === 300, 120_000, 'all 300 tasks to succeed');
      expect(broker.link.generation).toBeGreaterThan(generation);
      expect(ids.length).toBe(300);
      expect([...runs.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      const twice = [...runs.values()].filter((n) => n > 1).length;
      // Exactly the 8 that were running; the 32 prefetched ones were dropped by the worker once their
      // channel was gone (Delivery.valid) and ran once, after their redelivery.
      expect(twice).toBe(8);
    } finally {
      await worker.stop();
      await Promise.all([app.close(), client.close()]);
    }
  }, 240_000);
});
