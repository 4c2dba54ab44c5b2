import { afterEach, describe, expect, it } from 'vitest';
import { currentTask } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

describe('canvas', () => {
  it('runs a group, saves it, and returns results in order', async () => {
    t = memoryApp();
    const add = t.app.task('c.add', (x: number, y: number) => ({ sum: x + y, group: currentTask().groupId }));
    await t.startWorker({ concurrency: 5 });
    const g = await t.app.group([add.s(1, 2), add.s(3, 4), add.s(5, 6)]);
    const values = await g.get({ timeout: 5 });
    expect(values.map((v) => (v as { sum: number }).sum)).toEqual([3, 7, 11]);
    expect(values.every((v) => (v as { group: string }).group === g.id)).toBe(true);
    expect(await (await t.app.backend()).getGroup(g.id)).toEqual(g.results.map((r) => r.id));
    expect(await g.completedCount()).toBe(3);
  });

  it('runs a chain, passing each result on; immutable steps ignore it', async () => {
    t = memoryApp();
    const add = t.app.task('c.add2', (x: number, y: number) => x + y);
    const parents: Array<string | null> = [];
    const mul = t.app.task('c.mul', (x: number, y: number) => {
      parents.push(currentTask().parentId);
      return x * y;
    });
    await t.startWorker();
    const r = await t.app.chain([add.s(1, 2), mul.s(10), add.si(100, 1), mul.s(2)]);
    expect(await r.get({ timeout: 5 })).toBe(202);
    expect(parents).toHaveLength(2);
    expect(parents.every((p) => typeof p === 'string')).toBe(true);
  });

  it('applies link callbacks with the result', async () => {
    t = memoryApp();
    const seen: unknown[] = [];
    const add = t.app.task('c.add3', (x: number, y: number) => x + y);
    const record = t.app.task('c.record', (v: unknown) => {
      seen.push(v);
      return v;
    });
    await t.startWorker();
    const cb = { ...record.s(), options: { task_id: 'cb-1' } };
    await (await add.applyAsync([2, 2], { link: [cb] })).get({ timeout: 5 });
    expect(await t.app.AsyncResult('cb-1').get({ timeout: 5 })).toBe(4);
    expect(seen).toEqual([4]);
  });
});
