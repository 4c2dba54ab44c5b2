/**
 * Canvas interop with real Python Celery 5.2 (Debian, /usr/bin/python3) on the machine's Redis: Python
 * builds the workflow with Celery's own primitives (py/canvas_driver.py) and OUR worker runs it; Python
 * reads the results back. Cases: chain, group, chord, a chain holding a group (Celery sends it as a
 * celery.chord step), link (and `AsyncResult.children`), link_error (old and new style), Task.replace on
 * our side inside a Python chain, chunks and starmap
 * (Celery's built-in tasks on our worker), a chord with a failing header member, and one chord whose
 * header is split across a Python worker and ours, with the body firing once.
 * Isolation: Redis DB 14, unique queues. Skipped locally when Redis or Python Celery is missing; fails
 * in CI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, currentTask, type TaskError } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { rawClient, skipRedis } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';
import { PyDriver, pythonCeleryAvailable, startPythonWorker, type WorkerProcess } from './harness.js';

const DB = 14;
const URL_ = `redis://127.0.0.1:6379/${DB}`;
const skip = (skipRedis || !pythonCeleryAvailable) && !inCI;

/** The Celeriac side of py/canvas_tasks.py: the same names and behaviour. */
function defineCanvasTasks(app: Celeriac, bodyRuns: unknown[], errbackCalls: unknown[] = []): Celeriac {
  app.task('canvas.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
  app.task('canvas.mul', (x: number, y: number) => x * y, { params: ['x', 'y'] });
  app.task('canvas.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0), { params: ['xs'] });
  app.task(
    'canvas.fail',
    (msg: string) => {
      const e = new Error(msg);
      e.name = 'ValueError';
      throw e;
    },
    { params: ['msg'] },
  );
  app.task('canvas.echo', (v: unknown) => v, { params: ['value'] });
  app.task('canvas.on_error', (taskId: string) => taskId, { params: ['task_id'] });
  // Only here, not in Python: Task.replace inside a Python chain.
  app.task('canvas.shim', (x: number) => currentTask().replace(app.signature('canvas.add', [x, 100])), {
    params: ['x'],
  });
  // A new-style errback (more than one parameter): called in our worker with (request, exc, traceback).
  app.task(
    'canvas.on_error_new',
    (request: { id: string }, exc: TaskError, traceback: string | null, key: string) => {
      errbackCalls.push({ id: request.id, excType: exc.excType, message: exc.excMessage, traceback, key });
    },
    { params: ['request', 'exc', 'traceback', 'key'] },
  );
  app.task(
    'canvas.slow',
    async (seconds: number, value: number) => {
      await new Promise((r) => setTimeout(r, seconds * 1000));
      return value;
    },
    { params: ['seconds', 'value'] },
  );
  app.task(
    'canvas.body_once',
    (results: number[]) => {
      bodyRuns.push(results);
      return results;
    },
    { params: ['results'] },
  );
  return app;
}

const quiet = () => createLogger('error', () => {});

async function cleanup(queues: string[]): Promise<void> {
  const raw = rawClient(DB);
  const keys = queues.flatMap((q) => [q, ...[3, 6, 9].map((p) => `${q}\x06\x16${p}`), `_kombu.binding.${q}`]);
  await raw.del(...keys);
  raw.disconnect();
}

describe.skipIf(skip)('canvas interop (redis): Python Celery 5.2 canvas → Celeriac worker', () => {
  const queue = uniq('canvas-ts');
  const pyQueue = uniq('canvas-py');
  const bodyRuns: unknown[] = [];
  const errbackCalls: Array<Record<string, unknown>> = [];
  let app: Celeriac;
  let worker: Worker;
  let py: PyDriver;
  let pyWorker: WorkerProcess | null = null;
  const env = { INTEROP_BROKER: URL_, INTEROP_BACKEND: URL_, INTEROP_QUEUE: queue };

  beforeAll(async () => {
    app = defineCanvasTasks(
      new Celeriac({ broker: URL_, backend: URL_, resultExpires: 600, taskDefaultQueue: queue }),
      bodyRuns,
      errbackCalls,
    );
    worker = app.worker({ queues: [queue], concurrency: 8, logger: quiet() });
    await worker.start();
    py = new PyDriver(env, 'canvas_driver.py');
  }, 60_000);
  afterAll(async () => {
    await py?.close();
    await pyWorker?.stop();
    await worker?.stop();
    await app?.close();
    await cleanup([queue, pyQueue]);
  });

  it('runs a chain', async () => {
    expect(await py.call('chain')).toEqual({ value: 60, parent: 6 });
  });

  it('runs a group', async () => {
    expect(await py.call('group')).toEqual({ value: [0, 2, 4, 6] });
  });

  it('runs a chord (Celery’s Redis chord counter, body fired by our worker)', async () => {
    expect(await py.call('chord')).toEqual({ value: 12 });
  });

  it('runs a chain holding a group (celery.chord step)', async () => {
    expect(await py.call('chain_group')).toEqual({ value: 10 });
  });

  it('records a link callback as a child that Python’s AsyncResult.children finds', async () => {
    const got = await py.call<{ value: number; children: unknown[]; raw_children: unknown[] }>('link');
    expect(got.value).toBe(4);
    expect(got.children).toEqual([4]);
    expect(got.raw_children).toHaveLength(1);
  });

  it('sends an old-style errback with the failed task’s id', async () => {
    const got = await py.call<{
      error: { exc_type: string; message: string };
      errback: string;
      failed_id: string;
    }>('link_error');
    expect(got.error).toMatchObject({ exc_type: 'ValueError', message: 'boom' });
    expect(got.errback).toBe(got.failed_id);
  });

  it('calls a new-style errback in our worker with (request, exc, traceback) and its own args', async () => {
    const { failed_id } = await py.call<{ failed_id: string }>('link_error_new');
    await waitUntil(() => errbackCalls.some((c) => c.id === failed_id), 30_000, 'the new-style errback');
    const call = errbackCalls.find((c) => c.id === failed_id);
    expect(call).toMatchObject({ excType: 'ValueError', message: ['boom'], key: 'k' });
    expect(call?.traceback).toContain('ValueError');
  });

  it('runs Task.replace on our worker inside a Python chain: the chain goes on from the replacement', async () => {
    // (1 + 2) → shim replaces itself with add(3, 100) → mul(103, 10)
    expect(await py.call('replace')).toEqual({ value: 1030 });
  });

  it('runs chunks and starmap through Celery’s built-in tasks', async () => {
    expect(await py.call('chunks')).toEqual({ value: [[2, 4], [6]] });
    expect(await py.call('starmap')).toEqual({ value: [3, 7] });
  });

  it('fails a chord whose header member failed: the body never runs, ChordError names the member', async () => {
    const got = await py.call<{
      error: { exc_type: string; message: string };
      body_state: string;
      body_result: { exc_type: string; exc_message: string[]; exc_module: string };
    }>('chord_fail');
    // Python's get() re-raises the header member's own error (it follows the body's parents).
    expect(got.error).toMatchObject({ exc_type: 'ValueError', message: 'header-boom' });
    expect(got.body_state).toBe('FAILURE');
    expect(got.body_result.exc_type).toBe('ChordError');
    expect(got.body_result.exc_module).toBe('celery.exceptions');
    expect(got.body_result.exc_message[0]).toMatch(
      /^Dependency [0-9a-f-]{36} raised ValueError\('header-boom'\)$/,
    );
  });

  it('shares one chord between a Python worker and ours: the body fires exactly once', async () => {
    pyWorker = await startPythonWorker({
      pool: 'eventlet',
      queue: pyQueue,
      name: uniq('canvas-py'),
      env: { ...env, INTEROP_QUEUE: pyQueue },
      app: 'canvas_tasks',
    });
    bodyRuns.length = 0;
    const n = 8;
    const got = await py
      .call<{ value: number[]; group: string }>('mixed_chord', { pyq: pyQueue, tsq: queue, size: n })
      .catch((e: Error) => {
        throw new Error(`${e.message}\npython worker log:\n${pyWorker?.log()}`);
      });
    expect(got.value).toEqual(Array.from({ length: n }, (_, i) => i));
    // The counters are deleted once the body was sent, and nothing else is queued for either worker:
    // a second body could only have been sent before that.
    const raw = rawClient(DB);
    try {
      const base = `celery-taskset-meta-${got.group}`;
      await waitUntil(
        async () => (await raw.exists(`${base}.j`, `${base}.s`)) === 0,
        10_000,
        'chord cleanup',
      );
      await waitUntil(
        async () => (await raw.llen(queue)) + (await raw.llen(pyQueue)) === 0,
        10_000,
        'queues',
      );
    } finally {
      raw.disconnect();
    }
    expect(bodyRuns).toEqual([got.value]);
    // Both workers ran part of the header.
    expect(pyWorker.log()).toMatch(/canvas\.slow\[[0-9a-f-]+\] succeeded/);
  }, 90_000);
});
