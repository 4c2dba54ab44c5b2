/**
 * Interop with real Python Celery 5.2 (Debian, /usr/bin/python3) over the machine's Redis, both ways:
 *  - Python client → Celeriac worker;
 *  - Celeriac client → Python worker, with `-P eventlet` and `-P prefork`;
 *  - kill -9 of a Celeriac worker holding acksLate tasks: every task completes after a restart.
 * Isolation: Redis DB 12 (and 13 for the kill test, which runs with a 2 s visibility timeout), a unique
 * queue per suite. Skipped locally when Redis or Python Celery is missing; fails in CI.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultBackend } from '../../src/backends/backend.js';
import { TaskError } from '../../src/errors.js';
import { Celeriac } from '../../src/index.js';
import type { SignatureJson } from '../../src/protocol/message.js';
import { appInternals } from '../../src/task/publisher.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { rawClient, skipRedis } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';
import { defineInteropTasks, started } from './celeriac-app.js';
import {
  PyDriver,
  pythonCeleryAvailable,
  startCeleriacWorker,
  startPythonWorker,
  type WorkerProcess,
} from './harness.js';

const DB = 12;
const KILL_DB = 13;
const URL_ = `redis://127.0.0.1:6379/${DB}`;
const skip = (skipRedis || !pythonCeleryAvailable) && !inCI;

const BIG = 'é✓日本🎉 payload '.repeat(40_000); // ~720 KB of UTF-8
const UNICODE = { ключ: 'héllo wörld ✓ 日本語 🎉', list: ['ñ', '\u0000', 'tab\t', '"quoted"'], n: 1.5 };

function sig(task: string, args: unknown[]): SignatureJson {
  return { task, args, kwargs: {}, options: {}, subtask_type: null, immutable: false };
}

const quiet = () => createLogger('error', () => {});

/**
 * Remove what a suite leaves behind in its DB: its queues (all priority buckets; Celery 5.2's eventlet
 * worker even puts the last message it ran back on warm shutdown), their bindings and our dead letters.
 */
async function cleanup(db: number, queues: string[]): Promise<void> {
  const raw = rawClient(db);
  const keys = queues.flatMap((q) => [q, ...[3, 6, 9].map((p) => `${q}\x06\x16${p}`), `_kombu.binding.${q}`]);
  await raw.del(...keys, 'celeriac.dead-letter', '_kombu.binding.celeriac.dead-letter');
  raw.disconnect();
}

describe.skipIf(skip)('interop (redis): Python Celery 5.2 client → Celeriac worker', () => {
  const queue = uniq('py2ts');
  const prioQueue = uniq('py2ts-prio');
  let app: Celeriac;
  let worker: Worker;
  let py: PyDriver;

  beforeAll(async () => {
    app = defineInteropTasks(new Celeriac({ broker: URL_, backend: URL_, resultExpires: 600 }));
    worker = app.worker({ queues: [queue], concurrency: 8, logger: quiet() });
    await worker.start();
    py = new PyDriver({ INTEROP_BROKER: URL_, INTEROP_BACKEND: URL_, INTEROP_QUEUE: queue });
  }, 60_000);
  afterAll(async () => {
    await py?.close();
    await worker?.stop();
    await app?.close();
    await cleanup(DB, [queue, prioQueue]);
  });

  it('runs positional args', async () => {
    expect(await py.get(await py.send('interop.add', [2, 3]))).toEqual({ value: 5, state: 'SUCCESS' });
  });

  it('maps Python kwargs onto parameters', async () => {
    const id = await py.send('interop.kwargs', [1], { kwargs: { c: 3, b: 2 } });
    expect((await py.get(id)).value).toEqual([1, 2, 3]);
  });

  it('raises our error in Python with its type, message and our traceback', async () => {
    const builtin = (await py.get(await py.send('interop.fail', ['bad input é']))).error;
    expect(builtin).toMatchObject({
      exc_type: 'TypeError',
      exc_module: 'builtins',
      message: 'bad input é',
      state: 'FAILURE',
    });
    expect(builtin?.traceback).toMatch(/TypeError: bad input é/);
    expect(builtin?.traceback).toMatch(/celeriac-app\.ts/);
    const custom = (await py.get(await py.send('interop.fail_custom', ['over quota']))).error;
    // Not importable in Python: Celery makes a class of the same name.
    expect(custom).toMatchObject({ exc_type: 'QuotaExceeded', message: 'over quota', state: 'FAILURE' });
  });

  it('retries (same id, retries counted) until the task succeeds', async () => {
    expect((await py.get(await py.send('interop.retry', [2]))).value).toBe(2);
  });

  it('honours countdown and ETA', async () => {
    const t0 = Date.now() / 1000;
    const [a, b] = await Promise.all([
      py.send('interop.when', [], { countdown: 1.5 }),
      py.send('interop.when', [], { eta_in: 1.5 }),
    ]);
    const [ra, rb] = await Promise.all([py.get(a), py.get(b)]);
    expect(ra.value as number).toBeGreaterThanOrEqual(t0 + 1.45);
    expect(rb.value as number).toBeGreaterThanOrEqual(t0 + 1.45);
  });

  it('marks an expired task REVOKED, at receipt and after its ETA', async () => {
    const gone = (await py.get(await py.send('interop.add', [1, 1], { expires_in: -10 }))).error;
    expect(gone).toMatchObject({ exc_type: 'TaskRevokedError', state: 'REVOKED' });
    const late = (await py.get(await py.send('interop.add', [1, 1], { eta_in: 1, expires_in: 0.5 }))).error;
    expect(late).toMatchObject({ exc_type: 'TaskRevokedError', state: 'REVOKED' });
  });

  it('answers an unknown task as Celery does (NotRegistered) and keeps serving', async () => {
    const err = (await py.get(await py.send('interop.nope', [1]))).error;
    expect(err).toMatchObject({
      exc_type: 'NotRegistered',
      exc_module: 'celery.exceptions',
      state: 'FAILURE',
    });
    expect(err?.message).toContain('interop.nope');
    expect((await py.get(await py.send('interop.add', [20, 22]))).value).toBe(42);
  });

  it('serves Python priorities in kombu order (0 first)', async () => {
    const pq = prioQueue;
    started.length = 0;
    const ids: string[] = [];
    for (const p of [9, 6, 3, 0])
      ids.push(await py.send('interop.order', [`p${p}`], { priority: p, queue: pq }));
    const w = app.worker({ queues: [pq], concurrency: 1, logger: quiet() });
    await w.start();
    try {
      for (const id of ids) await py.get(id);
      expect(started).toEqual(['p0', 'p3', 'p6', 'p9']);
    } finally {
      await w.stop();
    }
  });

  it('carries a payload over 512 KB intact', async () => {
    const r = (await py.get(await py.send('interop.size', [BIG]))).value as { len: number; sha256: string };
    expect(Buffer.byteLength(BIG)).toBeGreaterThan(512 * 1024);
    expect(r.len).toBe([...BIG].length);
    const { createHash } = await import('node:crypto');
    expect(r.sha256).toBe(createHash('sha256').update(BIG).digest('hex'));
  });

  it('round-trips unicode', async () => {
    expect((await py.get(await py.send('interop.echo', [UNICODE]))).value).toEqual(UNICODE);
  });

  it('returns group results, and reads the GroupResult Python saved', async () => {
    const g = await py.call<{ id: string; children: string[]; value: unknown }>('group', {
      name: 'interop.add',
      argslist: [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
      save: true,
    });
    expect(g.value).toEqual([2, 4, 6]);
    const backend = await app.backend();
    expect(await backend.getGroup(g.id)).toEqual(g.children);
  });
});

for (const pool of ['eventlet', 'prefork'] as const) {
  describe.skipIf(skip)(`interop (redis): Celeriac client → Python Celery 5.2 worker (-P ${pool})`, () => {
    const queue = uniq(`ts2py-${pool}`);
    let app: Celeriac;
    let pyWorker: WorkerProcess;
    let py: PyDriver;
    const env = { INTEROP_BROKER: URL_, INTEROP_BACKEND: URL_, INTEROP_QUEUE: queue };

    beforeAll(async () => {
      app = new Celeriac({ broker: URL_, backend: URL_, taskDefaultQueue: queue, resultExpires: 600 });
      pyWorker = await startPythonWorker({ pool, queue, name: uniq(`py-${pool}`), env });
      py = new PyDriver(env);
    }, 90_000);
    afterAll(async () => {
      await py?.close();
      await pyWorker?.stop();
      await app?.close();
      await cleanup(DB, [queue]);
    });

    const call = (name: string, args: unknown[] = [], kwargs = {}, options = {}) =>
      app.sendTask(name, args, kwargs, options).then((r) => r.get({ timeout: 30 }));
    const failure = async (p: Promise<unknown>): Promise<TaskError> => {
      try {
        await p;
      } catch (err) {
        if (err instanceof TaskError) return err;
        throw err;
      }
      throw new Error('expected the task to fail');
    };

    it('runs positional args', async () => {
      expect(await call('interop.add', [2, 3])).toBe(5);
    });

    it('passes kwargs', async () => {
      expect(await call('interop.kwargs', [1], { c: 3, b: 2 })).toEqual([1, 2, 3]);
    });

    it('raises the Python error from get() with its type name, message and traceback', async () => {
      const err = await failure(call('interop.fail', ['boom é']));
      expect(err.excType).toBe('ValueError');
      expect(err.excModule).toBe('builtins');
      expect(err.excMessage).toEqual(['boom é']);
      expect(err.message).toBe('ValueError: boom é');
      expect(err.traceback).toMatch(/Traceback \(most recent call last\)[\s\S]*ValueError: boom é/);
    });

    it('retries until the task succeeds', async () => {
      expect(await call('interop.retry', [2])).toBe(2);
    });

    it('honours countdown and ETA', async () => {
      const t0 = Date.now() / 1000;
      const [a, b] = await Promise.all([
        call('interop.when', [], {}, { countdown: 1.5 }),
        call('interop.when', [], {}, { eta: new Date(Date.now() + 1500) }),
      ]);
      expect(a as number).toBeGreaterThanOrEqual(t0 + 1.45);
      expect(b as number).toBeGreaterThanOrEqual(t0 + 1.45);
    });

    it('gets REVOKED for an expired task', async () => {
      const err = await failure(call('interop.add', [1, 1], {}, { expires: new Date(Date.now() - 10_000) }));
      expect(err.excType).toBe('TaskRevokedError');
    });

    it('gets NotRegistered for an unknown task, and the worker keeps serving', async () => {
      const err = await failure(call('interop.nope', [1]));
      expect(err.excType).toBe('NotRegistered');
      expect(err.excMessage.join(' ')).toContain('interop.nope');
      expect(await call('interop.add', [20, 22])).toBe(42);
    });

    it('is served by priority (0 first) by the Python worker', async () => {
      // Occupy the single slot with an acks_late task so the prefetch window stays full while we publish.
      const blocker = await app.sendTask('interop.block', [1.5]);
      await waitUntil(
        async () => {
          await blocker.refresh();
          return blocker.state === 'STARTED';
        },
        20_000,
        'blocker started',
      );
      const results = [];
      for (const p of [9, 6, 3, 0])
        results.push(await app.sendTask('interop.order', [`p${p}`], {}, { priority: p }));
      await blocker.get({ timeout: 30 });
      const done = (await Promise.all(results.map((r) => r.get({ timeout: 30 })))) as [string, number][];
      expect(done.sort((x, y) => x[1] - y[1]).map((d) => d[0])).toEqual(['p0', 'p3', 'p6', 'p9']);
    });

    it('carries a payload over 512 KB intact', async () => {
      const { createHash } = await import('node:crypto');
      expect(await call('interop.size', [BIG])).toEqual({
        len: [...BIG].length,
        sha256: createHash('sha256').update(BIG).digest('hex'),
      });
    });

    it('round-trips unicode', async () => {
      expect(await call('interop.echo', [UNICODE])).toEqual(UNICODE);
    });

    it('returns group results; Python restores the GroupResult we saved', async () => {
      const g = await app.group<number>([
        sig('interop.add', [1, 1]),
        sig('interop.add', [2, 2]),
        sig('interop.add', [3, 3]),
      ]);
      expect(await g.get({ timeout: 30 })).toEqual([2, 4, 6]);
      const fromPy = await py.call<{ children: string[]; value: number[] }>('group_get', { id: g.id });
      expect(fromPy).toEqual({ children: g.results.map((r) => r.id), value: [2, 4, 6] });
    });
  });
}

describe.skipIf(skip)('interop (redis): kill -9 of a Celeriac worker holding acksLate tasks', () => {
  const queue = uniq('kill9');
  const backendUrl = `redis://127.0.0.1:6379/${KILL_DB}`;
  // A short visibility timeout so the restarted worker restores the dead one's messages within seconds,
  // and a short restore mutex: a worker killed in the middle of its restore scan holds it that long.
  const brokerUrl = `${backendUrl}?visibility_timeout=2&unacked_mutex_expire=5`;
  const env = { CELERIAC_BROKER_URL: brokerUrl, CELERIAC_RESULT_BACKEND: backendUrl };
  let app: Celeriac;
  let raw: Redis;
  const workers: WorkerProcess[] = [];

  beforeAll(() => {
    app = new Celeriac({
      broker: backendUrl,
      backend: backendUrl,
      taskDefaultQueue: queue,
      resultExpires: 600,
    });
    raw = rawClient(KILL_DB);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await app?.close();
    raw?.disconnect();
    await cleanup(KILL_DB, [queue]);
  });

  it('completes every task after the worker is killed and restarted', async () => {
    const total = 24;
    const results = await appInternals(app).publishMany(
      Array.from({ length: total }, () => ({ name: 'interop.slow', args: [400] })),
    );
    const first = await startCeleriacWorker({ queue, env, args: ['-c', '4'] });
    workers.push(first);
    const backend: ResultBackend = await app.backend();
    // Mid-flight: some tasks done, others running or prefetched, all of those unacked.
    await waitUntil(
      async () => (await Promise.all(results.map((r) => backend.get(r.id)))).filter(Boolean).length >= 4,
      30_000,
      'first results',
    );
    await first.kill9();
    const orphaned = await raw.hlen('unacked');
    expect(orphaned).toBeGreaterThan(0);
    const second = await startCeleriacWorker({ queue, env, args: ['-c', '4'] });
    workers.push(second);
    const done = await Promise.all(results.map((r) => r.get({ timeout: 60 })));
    expect(done).toHaveLength(total);
    expect(done.some((pid) => pid === second.proc.pid)).toBe(true);
    await waitUntil(async () => (await raw.hlen('unacked')) === 0, 10_000, 'no unacked left');
    expect(await raw.llen(queue)).toBe(0);
  }, 120_000);
});
