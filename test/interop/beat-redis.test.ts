/**
 * A Python Celery 5.2 worker runs what our beat sends: a Beat publishes `interop.add` every second to a
 * Python worker's queue over Redis (db 12); the result Python stores is read back by the slot's task id.
 * Skipped locally when Redis or Python Celery is missing; fails in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Beat } from '../../src/beat/beat.js';
import { MemoryBeatStore } from '../../src/beat/memory-store.js';
import { parseSchedule } from '../../src/beat/schedule.js';
import { slotTaskId } from '../../src/beat/slots.js';
import { Celeriac } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import { rawClient, skipRedis } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';
import { pythonCeleryAvailable, startPythonWorker, type WorkerProcess } from './harness.js';

const DB = 12;
const URL_ = `redis://127.0.0.1:6379/${DB}`;
const skip = (skipRedis || !pythonCeleryAvailable) && !inCI;

describe.skipIf(skip)('interop (redis): a Python Celery 5.2 worker runs what beat sends', () => {
  const queue = uniq('beat2py');
  let app: Celeriac;
  let py: WorkerProcess;

  beforeAll(async () => {
    app = new Celeriac({ broker: URL_, backend: URL_, resultExpires: 600 });
    py = await startPythonWorker({
      pool: 'prefork',
      queue,
      name: uniq('py-beat'),
      env: { INTEROP_BROKER: URL_, INTEROP_BACKEND: URL_ },
    });
  }, 90_000);
  afterAll(async () => {
    await py?.stop();
    await app?.close();
    const raw = rawClient(DB);
    await raw.del(queue, ...[3, 6, 9].map((p) => `${queue}\x06\x16${p}`), `_kombu.binding.${queue}`);
    raw.disconnect();
  });

  it('the slot’s message runs on Python; its result is read back by the slot id', async () => {
    const beat = new Beat(app, {
      entries: [
        {
          name: 'py-add',
          task: 'interop.add',
          schedule: parseSchedule(1, 'UTC', 'py-add'),
          args: [2, 3],
          kwargs: {},
          options: { queue },
          relative: false,
        },
      ],
      store: new MemoryBeatStore(),
      logger: createLogger('error', () => {}),
    });
    await beat.start();
    try {
      await waitUntil(() => beat.sent.length >= 1, 10_000, 'a slot sent');
    } finally {
      await beat.stop();
    }
    const slot = beat.sent[0];
    expect(slot?.id).toBe(slotTaskId('py-add', slot?.due ?? 0));
    expect(await app.AsyncResult(slot?.id ?? '').get({ timeout: 30 })).toBe(5);
    expect(py.log()).toContain(`interop.add[${slot?.id}]`);
  });
});
