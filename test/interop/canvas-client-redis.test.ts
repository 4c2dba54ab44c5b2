/**
 * Interop, canvas built by our client and run by a real Python Celery 5.2 worker (`-P eventlet -c 1`)
 * on the machine's Redis: chains (a countdown on a later step), groups (GroupResult get/counts,
 * save/restore, Python's GroupResult.restore of what we saved), chords (ordered header results, a
 * failing header member), a chord and a group inside a chain, link and link_error (new-style and
 * old-style errbacks), map/starmap/chunks, and AsyncResult.parent/children/collect() read back from
 * what the Python worker stored.
 *
 * The tasks are declared on our side as typed stubs (`remote<…>()`) that never run here: the Python
 * worker (py/pytasks.py) runs them. Isolation: Redis DB 14 and a unique queue. Skipped locally when
 * Redis or Python Celery is missing; fails in CI.
 *
 * Top-level chords need the Redis backend's `prepareChord` (Celery's `.s` chord size key, written by the
 * client before the header is published). It lands with the worker side (branch canvas-worker); before
 * that merge, the two top-level chord cases wait in vain for the body. Chords inside chains do not need
 * it: the Python worker's own `celery.chord` task writes the size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AsyncResult, Celeriac, chain, chord, GroupResult, group, TaskError } from '../../src/index.js';
import { rawClient, skipRedis } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';
import { PyDriver, pythonCeleryAvailable, startPythonWorker, type WorkerProcess } from './harness.js';

const DB = 14;
const URL_ = `redis://127.0.0.1:6379/${DB}`;
const skip = (skipRedis || !pythonCeleryAvailable) && !inCI;
const T = { timeout: 30 };

/** A task body that only the Python worker runs: typed here so `task.s()` checks the workflow. */
// biome-ignore lint/suspicious/noExplicitAny: any task function type
function remote<F extends (...args: any[]) => unknown>(): F {
  return (() => {
    throw new Error('runs on the Python worker (py/pytasks.py), not here');
  }) as unknown as F;
}

async function failure(p: Promise<unknown>): Promise<TaskError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TaskError) return err;
    throw err;
  }
  throw new Error('expected the task to fail');
}

describe.skipIf(skip)('interop (redis): Celeriac canvas → Python Celery 5.2 worker', () => {
  const queue = uniq('canvas-ts2py');
  const env = { INTEROP_BROKER: URL_, INTEROP_BACKEND: URL_, INTEROP_QUEUE: queue };
  const app = new Celeriac({ broker: URL_, backend: URL_, taskDefaultQueue: queue, resultExpires: 600 });
  const add = app.task('interop.add', remote<(x: number, y: number) => number>());
  const mul = app.task('interop.mul', remote<(x: number, y: number) => number>());
  const double = app.task('interop.double', remote<(x: number) => number>());
  const tsum = app.task('interop.tsum', remote<(xs: number[]) => number>());
  const echo = app.task('interop.echo', remote<<V>(v: V) => V>());
  const when = app.task('interop.when', remote<() => number>());
  const fail = app.task('interop.fail', remote<(msg: string) => never>());
  let pyWorker: WorkerProcess;
  let py: PyDriver;

  beforeAll(async () => {
    pyWorker = await startPythonWorker({ pool: 'eventlet', queue, name: uniq('py-canvas'), env });
    py = new PyDriver(env);
  }, 90_000);
  afterAll(async () => {
    await py?.close();
    await pyWorker?.stop();
    await app.close();
    const raw = rawClient(DB);
    await raw.del(queue, ...[3, 6, 9].map((p) => `${queue}\x06\x16${p}`), `_kombu.binding.${queue}`);
    raw.disconnect();
  });

  it('a chain passes each result on; a later step keeps its countdown', async () => {
    const r = await chain(add.s(1, 2), add.s(3), mul.s(10)).applyAsync();
    expect(await r.get(T)).toBe(60);
    expect(await r.parent?.get(T)).toBe(6);
    expect(await r.parent?.parent?.get(T)).toBe(3);

    const timed = await chain(when.si(), when.si().set({ countdown: 1.5 })).applyAsync();
    const second = await timed.get(T);
    const first = (await timed.parent?.get(T)) as number;
    expect(second - first).toBeGreaterThanOrEqual(1.4);
  });

  it('a group: results in order, counts, save/restore, and Python restores what we saved', async () => {
    const g = await group(add.s(1, 1), add.s(2, 2), add.s(3, 3)).applyAsync();
    expect(g).toBeInstanceOf(GroupResult);
    expect(await g.get(T)).toEqual([2, 4, 6]);
    expect(await g.completedCount()).toBe(3);
    expect(await g.ready()).toBe(true);
    expect(await g.successful()).toBe(true);
    await g.save();
    const restored = await GroupResult.restore<number>(app, g.id);
    expect(restored?.results.map((r) => r.id)).toEqual(g.results.map((r) => r.id));
    expect(await restored?.get(T)).toEqual([2, 4, 6]);
    const fromPy = await py.call<{ children: string[]; value: number[] }>('group_get', { id: g.id });
    expect(fromPy).toEqual({ children: g.results.map((r) => r.id), value: [2, 4, 6] });
  });

  it('a chord: the body gets the header results in header order', async () => {
    const r = await chord([add.s(1, 1), mul.s(3, 3), add.s(10, 20)], echo.s()).applyAsync();
    expect(await r.get(T)).toEqual([2, 9, 30]);
    expect(await r.parent?.get(T)).toEqual([2, 9, 30]);
  });

  it('a chord inside a chain: the chord gets the previous result, the next step the body’s', async () => {
    const r = await chain(add.s(1, 2), chord([mul.s(2), mul.s(3)], tsum.s()), add.s(100)).applyAsync();
    // 3 → [6, 9] → 15 → 115
    expect(await r.get(T)).toBe(115);
  });

  it('a group inside a chain: the next step receives the list', async () => {
    const r = await chain(add.s(1, 1), group(mul.s(2), mul.s(3)), tsum.s()).applyAsync();
    // 2 → [4, 6] → 10
    expect(await r.get(T)).toBe(10);
  });

  it('a link callback runs with the result, recorded as a child by the Python worker', async () => {
    const r = await add.s(2, 3).link(add.s(10)).applyAsync();
    expect(await r.get(T)).toBe(5);
    const children = r.children ?? [];
    expect(children).toHaveLength(1);
    expect(await children[0]?.get(T)).toBe(15);
  });

  it('link_error: a new-style errback gets (request, exc, traceback); an old-style one the id', async () => {
    const key = uniq('errback-evidence');
    const oldStyleId = uniq('errback-id');
    const r = await fail
      .s('boom é')
      .linkError(app.signature('interop.on_error', [key]))
      .linkError(app.signature('interop.errback_id', [], {}, { taskId: oldStyleId }))
      .applyAsync();
    const err = await failure(r.get(T));
    expect(err.excType).toBe('ValueError');
    expect(await app.AsyncResult(oldStyleId).get(T)).toBe(`errback saw ${r.id}`);
    // The new-style errback ran inside the Python worker, after the failure was stored: wait for its evidence.
    const raw = rawClient(DB);
    try {
      await waitUntil(async () => (await raw.exists(key)) === 1, 20_000, 'the new-style errback');
      expect(JSON.parse((await raw.get(key)) ?? 'null')).toEqual({
        id: r.id,
        exc: "ValueError('boom é')",
        traceback: true,
      });
      await raw.del(key);
    } finally {
      raw.disconnect();
    }
  });

  it('map, starmap and chunks run as Celery’s built-in tasks', async () => {
    expect(await (await double.map([1, 2, 3]).applyAsync()).get(T)).toEqual([2, 4, 6]);
    const pairs: [number, number][] = [
      [1, 2],
      [3, 4],
    ];
    expect(await (await add.starmap(pairs).applyAsync()).get(T)).toEqual([3, 7]);
    const chunks = await add
      .chunks(
        [
          [1, 1],
          [2, 2],
          [3, 3],
        ],
        2,
      )
      .applyAsync();
    expect(chunks).toBeInstanceOf(GroupResult);
    expect(await chunks.get(T)).toEqual([[2, 4], [6]]);
  });

  it('a chord with a failing header member: the body never runs and fails with ChordError', async () => {
    const r = await chord([add.s(1, 1), fail.s('header-boom')], tsum.s()).applyAsync();
    const header = r.parent as GroupResult<unknown>;
    const failed = header.results[1] as AsyncResult<unknown>;
    expect((await failure(failed.get(T))).excType).toBe('ValueError');
    const err = await failure(r.get(T));
    expect(err.excType).toBe('ChordError');
    expect(err.excModule).toBe('celery.exceptions');
    expect(err.excMessage).toEqual([`Dependency ${failed.id} raised ValueError('header-boom')`]);
  });

  it('parent, children and collect() follow what the Python worker stored', async () => {
    const last = await chain(add.s(1, 2), add.s(3), mul.s(10)).applyAsync();
    await last.get(T);
    const middle = last.parent as AsyncResult<number>;
    const first = middle.parent as AsyncResult<number>;
    expect(first.parent).toBeNull();
    await first.get(T);
    // The Python worker records the next chain step as a child before its own result.
    expect(first.children?.map((c) => c.id)).toEqual([middle.id]);
    const collected: [string, unknown][] = [];
    for await (const [node, value] of first.collect(T)) collected.push([node.id, value]);
    expect(collected).toEqual([
      [first.id, 3],
      [middle.id, 6],
      [last.id, 60],
    ]);
  });
});
