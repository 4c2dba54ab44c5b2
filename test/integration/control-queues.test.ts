/**
 * Remote control's add_consumer / cancel_consumer on real brokers: the worker re-creates its broker
 * consumer for each change, and no message is lost or run twice meanwhile (a Redis BRPOP or an AMQP
 * delivery in flight when the old consumer is cancelled). Redis DB 15 / a private vhost; unique queues.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import { RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { skipRedis } from '../helpers/redis.js';
import { inCI, portOpen, uniq } from '../helpers/services.js';

const rabbitDown = !(await portOpen(RABBIT_PORT)) && !inCI;
const amqpUrl = usePrivateVhost(rabbitDown);
const cases = [
  {
    name: 'redis',
    skip: skipRedis,
    url: () => 'redis://127.0.0.1:6379/15',
    backend: () => 'redis://127.0.0.1:6379/15',
  },
  { name: 'amqp', skip: rabbitDown, url: () => amqpUrl(), backend: () => 'rpc://' },
] as const;

const apps: Celeriac[] = [];
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
});

describe.each(cases)('add_consumer / cancel_consumer ($name)', (c) => {
  it.skipIf(c.skip)(
    'loses and repeats nothing while queues change under load',
    async () => {
      const qa = uniq('ctl-a');
      const qb = uniq('ctl-b');
      const app = new Celeriac({ broker: c.url(), backend: c.backend() });
      apps.push(app);
      const runs = new Map<number, number>();
      const count = (n: number) => runs.set(n, (runs.get(n) ?? 0) + 1);
      const a = app.task('ctlq.a', count, { queue: qa });
      const b = app.task('ctlq.b', count, { queue: qb });
      const node = `${uniq('w')}@test`;
      const w = app.worker({
        hostname: node,
        queues: [qa],
        concurrency: 8,
        mingle: false,
        logger: createLogger('error'),
      });
      await w.start();
      const opts = { reply: true, destination: node, timeout: 5 };
      const results = [];
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 25; i++) results.push(await (i % 2 ? a : b).delay(round * 100 + i));
        // The worker replies before its broker consumer follows; the next change must build on this one.
        await app.control.addConsumer(qb, {}, opts);
        expect(w.queues).toEqual([qa, qb]);
        await app.control.cancelConsumer(qb, opts);
        expect(w.queues).toEqual([qa]);
      }
      await app.control.addConsumer(qb, {}, opts);
      expect(w.queues).toEqual([qa, qb]);
      await Promise.all(results.map((r) => r.get({ timeout: 30 })));
      await w.stop();
      expect(runs.size).toBe(100);
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
      const broker = await app.broker();
      expect((await broker.size(qa)) + (await broker.size(qb))).toBe(0);
      await broker.purge(qa);
      await broker.purge(qb);
    },
    120_000,
  );
});
