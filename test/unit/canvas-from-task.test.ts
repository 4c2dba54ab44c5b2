/**
 * The client canvas used from inside a running task, where the worker records what a task sends: a
 * group is one child (its GroupResult tuple, as Celery's add_trail), and `replace()` takes a canvas
 * Signature as well as a Celery dict.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chain, currentTask, group } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

describe('canvas inside a task', () => {
  it('records a group sent from a task as one GroupResult child, and a chain by its last step', async () => {
    t = memoryApp();
    const add = t.app.task('cft.add', (x: number, y: number) => x + y);
    const fan = t.app.task('cft.fan', async () => {
      const g = await group(add.s(1, 1), add.s(2, 2)).applyAsync();
      const c = await chain(add.s(1, 2), add.s(3)).applyAsync();
      return { group: g.id, members: g.results.map((r) => r.id), chain: c.id };
    });
    await t.startWorker();
    const r = await fan.delay();
    const sent = (await r.get({ timeout: 5 })) as { group: string; members: string[]; chain: string };
    const backend = await t.app.backend();
    const meta = await backend.get(r.id);
    const children = meta?.children as unknown[];
    expect(children).toHaveLength(2);
    expect(children[0]).toEqual([[sent.group, null], sent.members.map((id) => [[id, null], null])]);
    // The chain's first message is what this task published; its tuple names that step.
    expect((children[1] as [[string, unknown], null])[0][0]).toBeTypeOf('string');
    // AsyncResult.children reads the same tuples back as results (a GroupResult first).
    expect(r.children?.[0]?.id).toBe(sent.group);
  });

  it('replace() accepts a canvas Signature: the replacement answers under the task’s id', async () => {
    t = memoryApp();
    const add = t.app.task('cft.add2', (x: number, y: number) => x + y);
    const shim = t.app.task('cft.shim', (x: number) => currentTask().replace(add.s(x, 10)));
    await t.startWorker();
    const r = await shim.delay(5);
    expect(await r.get({ timeout: 5 })).toBe(15);
  });
});
