/**
 * Signals in pool children, as in Celery: worker_process_init is sent in each prefork process and each
 * thread once it has loaded the app, and task_prerun where the task runs (the child), not in the worker.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { app } from '../fixtures/apps/signals.js';
import { uniq } from '../helpers/services.js';

const appModule = fileURLToPath(new URL('../fixtures/apps/signals.ts', import.meta.url));
type Where = {
  pid: number;
  thread: number;
  init: { pid: number; thread: number } | null;
  prerunSawMe: boolean;
};

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

describe.each(['prefork', 'threads'] as const)('%s children', (pool) => {
  it('send worker_process_init once loaded, and task_prerun where the task runs', async () => {
    const queue = uniq(`signals-${pool}`);
    const w = app.worker({ pool, concurrency: 1, queues: [queue], appModule, logger: createLogger('error') });
    workers.push(w);
    await w.start();
    const r = await app.sendTask('signals.where', [], {}, { queue });
    const where = (await r.get({ timeout: 20 })) as Where;
    if (pool === 'prefork') {
      expect(where.pid).not.toBe(process.pid);
      expect(where.init).toEqual({ pid: where.pid, thread: 0 });
    } else {
      expect(where.thread).not.toBe(0);
      expect(where.init).toEqual({ pid: process.pid, thread: where.thread });
    }
    expect(where.prerunSawMe).toBe(true);
  });
});
