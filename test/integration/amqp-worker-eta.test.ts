/**
 * Long ETAs on RabbitMQ: the worker hands a task due beyond `workerEtaHandoff` back to the broker's
 * delay queues instead of holding it unacked (where RabbitMQ's consumer_timeout would close the channel,
 * celery/celery#6760). The task still runs once, at its ETA.
 */
import { describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import { RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { skipUnless, uniq, waitUntil } from '../helpers/services.js';

const skip = await skipUnless(RABBIT_PORT);
const vhostUrl = usePrivateVhost(skip);

describe.skipIf(skip)('worker ETA hand-off on RabbitMQ', () => {
  it('hands a far ETA to the broker, holds nothing unacked, and runs the task once at its ETA', async () => {
    const app = new Celeriac({ broker: vhostUrl(), backend: 'memory://', workerEtaHandoff: 1 });
    const runs: number[] = [];
    const task = app.task('eta.later', () => runs.push(Date.now()));
    const logs: string[] = [];
    const queue = uniq('eta');
    const worker = app.worker({ queues: [queue], logger: createLogger('info', (l) => logs.push(l)) });
    await worker.start();
    try {
      const sent = Date.now();
      const r = await task.applyAsync([], { countdown: 3, queue });
      await waitUntil(
        () => logs.some((l) => l.includes(`[${r.id}] handed to the broker`)),
        10_000,
        'hand-off',
      );
      expect(worker.stats()).toMatchObject({ scheduled: 0 });
      await r.get({ timeout: 20 });
      expect(runs).toHaveLength(1);
      expect((runs[0] as number) - sent).toBeGreaterThanOrEqual(2900);
      // A near ETA (below the threshold) is held by the worker as usual.
      const near = await task.applyAsync([], { countdown: 0.5, queue });
      await near.get({ timeout: 10 });
      expect(logs.some((l) => l.includes(`[${near.id}] handed to the broker`))).toBe(false);
    } finally {
      await worker.stop();
      await app.close();
    }
  }, 60_000);
});
