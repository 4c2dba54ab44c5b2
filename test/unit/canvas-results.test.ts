/**
 * Canvas end to end on the memory broker with a real in-process worker, for what the worker runs
 * today (chains, links, groups, chains inside groups), and results: GroupResult, AsyncResult.parent,
 * .children and .collect(). Chords, celery.group/celery.chord steps and map/chunks need the worker's
 * built-in tasks and are checked by their published layout (canvas-publish.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncResult, chain, fromJson, GroupResult, group, TaskError } from '../../src/index.js';
import { buildMeta } from '../../src/protocol/result.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

function setup() {
  t = memoryApp();
  const add = t.app.task('r.add', (x: number, y: number) => x + y);
  const mul = t.app.task('r.mul', (x: number, y: number) => x * y);
  const toStr = t.app.task('r.str', (x: number) => `#${x}`);
  const boom = t.app.task('r.boom', (x: number) => {
    throw new RangeError(`boom ${x}`);
  });
  return { add, mul, toStr, boom };
}

describe('chains and groups, run', () => {
  it('a chain gives the last result, typed, with parents back to the first step', async () => {
    const { add, mul, toStr } = setup();
    await t.startWorker();
    const r = await chain(add.s(1, 2), mul.s(10), toStr.s()).applyAsync();
    const value: string = await r.get({ timeout: 5 });
    expect(value).toBe('#30');
    expect(await r.parent?.get({ timeout: 5 })).toBe(30);
    expect(await r.parent?.parent?.get({ timeout: 5 })).toBe(3);
    expect(r.parent?.parent?.parent).toBeNull();
  });

  it('sig.pipe() and delay() with partial args', async () => {
    const { add, mul } = setup();
    await t.startWorker();
    const r = await add.s(2).pipe(mul.s(5)).delay(1);
    expect(await r.get({ timeout: 5 })).toBe(15);
  });

  it('a group: results in order, counts and states, save and restore', async () => {
    const { add } = setup();
    await t.startWorker({ concurrency: 4 });
    const g = await group(add.s(1, 1), add.s(2, 2), add.s(3, 3)).applyAsync();
    expect(g).toBeInstanceOf(GroupResult);
    expect(await g.get({ timeout: 5 })).toEqual([2, 4, 6]);
    expect(await g.join({ timeout: 5 })).toEqual([2, 4, 6]);
    expect(await g.completedCount()).toBe(3);
    expect(await g.ready()).toBe(true);
    expect(await g.successful()).toBe(true);
    expect(await g.failed()).toBe(false);
    const restored = await GroupResult.restore<number>(t.app, g.id);
    expect(restored?.results.map((r) => r.id)).toEqual(g.results.map((r) => r.id));
    expect(await restored?.get({ timeout: 5 })).toEqual([2, 4, 6]);
    await g.save({ expires: 60 });
    await g.forget();
    expect(await (g.results[0] as AsyncResult).refresh()).toBeUndefined();
    expect(await GroupResult.restore(t.app, 'no-such-group')).toBeNull();
  });

  it('a group with a failing member: failed(), and get() rejects with its error', async () => {
    const { add, boom } = setup();
    await t.startWorker();
    const g = await group(add.s(1, 1), boom.s(7)).applyAsync();
    const err = await g.get({ timeout: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(String(err)).toMatch(/boom 7/);
    expect(await g.failed()).toBe(true);
    expect(await g.successful()).toBe(false);
    expect(await g.completedCount()).toBe(1);
  });

  it('a chain inside a group runs; the member result is its last step', async () => {
    const { add, mul } = setup();
    await t.startWorker({ concurrency: 2 });
    const g = await group(add.s(1, 1).pipe(mul.s(2)), add.s(2, 2)).applyAsync();
    expect(await g.get({ timeout: 5 })).toEqual([4, 4]);
  });

  it('a group applied with partial args prepends them to every member', async () => {
    const { add } = setup();
    await t.startWorker();
    const g = await group(add.s(1), add.s(2)).applyAsync({ args: [10] });
    expect(await g.get({ timeout: 5 })).toEqual([11, 12]);
  });

  it('a link callback from a signature runs with the result', async () => {
    const { add, mul } = setup();
    await t.startWorker();
    const cb = mul.s(3).set({ taskId: 'link-cb-1' });
    await (await add.s(2, 2).link(cb).applyAsync()).get({ timeout: 5 });
    expect(await t.app.AsyncResult('link-cb-1').get({ timeout: 5 })).toBe(12);
  });

  it("a signature received as Celery's dict (e.g. from Python) is applied through an app", async () => {
    const { add: _add } = setup();
    await t.startWorker();
    const dict = {
      task: 'celery.chain',
      args: [],
      kwargs: {
        tasks: [
          { task: 'r.add', args: [1, 2], kwargs: {}, options: {}, subtask_type: null, immutable: false },
          { task: 'r.mul', args: [4], kwargs: {}, options: {}, subtask_type: null, immutable: false },
        ],
      },
      options: {},
      subtask_type: 'chain',
      immutable: false,
    };
    const r = await fromJson(dict, t.app).applyAsync();
    expect(await r.get({ timeout: 5 })).toBe(12);
  });
});

describe('children and collect (from metas as Celery stores them)', () => {
  it("reads children in Celery's tuple format, groups included, and collects breadth first", async () => {
    setup();
    const backend = await t.app.backend();
    const store = (id: string, result: unknown, children: unknown[] = []) =>
      backend.store(buildMeta(id, 'SUCCESS', result, null, new Date(), { children }), { expires: null });
    await store('child-a', 'a');
    await store('member-1', 1);
    await store('member-2', 2);
    await store('root', 'r', [
      [['child-a', null], null],
      [
        ['g-1', null],
        [
          [['member-1', null], null],
          [['member-2', null], null],
        ],
      ],
    ]);
    const root = t.app.AsyncResult('root');
    expect(root.children).toBeNull(); // nothing read yet
    await root.refresh();
    const children = root.children ?? [];
    expect(children[0]).toBeInstanceOf(AsyncResult);
    expect(children[0]?.id).toBe('child-a');
    expect(children[1]).toBeInstanceOf(GroupResult);
    expect((children[1] as GroupResult).results.map((r) => r.id)).toEqual(['member-1', 'member-2']);
    const seen: Array<[string, unknown]> = [];
    for await (const [r, v] of root.collect({ timeout: 5 })) seen.push([r.id, v]);
    expect(seen).toEqual([
      ['root', 'r'],
      ['child-a', 'a'],
      ['g-1', [1, 2]],
      ['member-1', 1],
      ['member-2', 2],
    ]);
  });
});
