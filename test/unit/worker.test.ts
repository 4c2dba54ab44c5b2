import { afterEach, describe, expect, it } from 'vitest';
import { currentTask, TaskError } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { waitUntil } from '../helpers/services.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

describe('tasks and results', () => {
  it('runs a task and returns its result; logs in Celery’s shape', async () => {
    t = memoryApp();
    const add = t.app.task('tasks.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
    await t.startWorker({ concurrency: 4 });
    const r = await add.delay(2, 3);
    expect(await r.get({ timeout: 10 })).toBe(5);
    expect(r.state).toBe('SUCCESS');
    expect(r.ready()).toBe(true);
    expect(r.successful()).toBe(true);
    expect(r.dateDone).toBeInstanceOf(Date);
    await waitUntil(
      () => t.logs.some((l) => l.includes(`Task tasks.add[${r.id}] succeeded in`)),
      5000,
      'log',
    );
    expect(t.logs.find((l) => l.includes(`[${r.id}] received`))).toMatch(
      /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}: INFO\/MainProcess\] Task tasks\.add\[/,
    );
    expect(t.logs.find((l) => l.includes('succeeded'))).toMatch(/succeeded in \d+\.\d+s: 5$/m);
  });

  it('maps kwargs onto declared params as Python does, and fails bad calls with TypeError', async () => {
    t = memoryApp();
    t.app.task('tasks.sub', (x: number, y = 10) => x - y, { params: ['x', 'y'] });
    t.app.task('tasks.opts', (x: number, opts: Record<string, unknown>) => ({ x, opts }));
    await t.startWorker();
    expect(await (await t.app.sendTask('tasks.sub', [], { y: 1, x: 5 })).get({ timeout: 5 })).toBe(4);
    expect(await (await t.app.sendTask('tasks.sub', [5])).get({ timeout: 5 })).toBe(-5);
    expect(await (await t.app.sendTask('tasks.opts', [1], { a: 2 })).get({ timeout: 5 })).toEqual({
      x: 1,
      opts: { a: 2 },
    });
    const cases: Array<[unknown[], Record<string, unknown>, string]> = [
      [[1, 2, 3], {}, 'tasks.sub() takes 2 positional arguments but 3 were given'],
      [[1], { x: 2 }, "tasks.sub() got multiple values for argument 'x'"],
      [[1], { z: 2 }, "tasks.sub() got an unexpected keyword argument 'z'"],
      [[], {}, "tasks.sub() missing 1 required positional argument: 'x'"],
    ];
    for (const [args, kwargs, message] of cases) {
      const r = await t.app.sendTask('tasks.sub', args, kwargs);
      const err = await r.get({ timeout: 5 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskError);
      expect(err).toMatchObject({ excType: 'TypeError', excModule: 'builtins', excMessage: [message] });
    }
  });

  it('gives each task its own context through awaits', async () => {
    t = memoryApp();
    const ctx = t.app.task('tasks.ctx', async (n: number) => {
      await new Promise((r) => setTimeout(r, 10 - n));
      const c = currentTask();
      return {
        id: c.id,
        name: c.name,
        retries: c.retries,
        args: c.args,
        root: c.rootId,
        aborted: c.signal.aborted,
      };
    });
    await t.startWorker({ concurrency: 10 });
    const rs = await Promise.all([1, 2, 3, 4, 5].map((n) => ctx.delay(n)));
    const values = await Promise.all(rs.map((r) => r.get({ timeout: 5 })));
    values.forEach((v, i) => {
      expect(v).toEqual({
        id: rs[i]?.id,
        name: 'tasks.ctx',
        retries: 0,
        args: [i + 1],
        root: rs[i]?.id,
        aborted: false,
      });
    });
  });

  it('rejects get() with the task’s error type, message and traceback; refresh/forget work', async () => {
    t = memoryApp();
    class PaymentDeclined extends Error {
      override name = 'PaymentDeclined';
    }
    const pay = t.app.task('tasks.pay', () => {
      throw new PaymentDeclined('card expired');
    });
    await t.startWorker();
    const r = await pay.delay();
    const err = (await r.get({ timeout: 5 }).catch((e: unknown) => e)) as TaskError;
    expect(err).toBeInstanceOf(TaskError);
    expect(err.excType).toBe('PaymentDeclined');
    expect(err.excMessage).toEqual(['card expired']);
    expect(err.traceback).toContain('card expired');
    expect(r.failed()).toBe(true);
    const fresh = t.app.AsyncResult(r.id);
    expect(fresh.state).toBe('PENDING');
    await fresh.refresh();
    expect(fresh.state).toBe('FAILURE');
    expect(fresh.info).toMatchObject({ exc_type: 'PaymentDeclined' });
    await fresh.forget();
    await fresh.refresh();
    expect(fresh.state).toBe('PENDING');
  });

  it('logs errors listed in `throws` as expected, in one line, and still fails the task', async () => {
    t = memoryApp();
    class NotFound extends Error {
      override name = 'NotFound';
    }
    const find = t.app.task(
      'tasks.find',
      (what: string) => {
        if (what === 'gone') throw new NotFound('no such page');
        throw new RangeError('bug');
      },
      { throws: [NotFound] },
    );
    await t.startWorker();
    const gone = await find.delay('gone');
    await expect(gone.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'NotFound' });
    const bug = await find.delay('bug');
    await expect(bug.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'RangeError' });
    await waitUntil(() => t.logs.some((l) => l.includes(`[${bug.id}] raised unexpected`)), 5000, 'error log');
    const expected = t.logs.find((l) => l.includes(`[${gone.id}] raised expected: NotFound('no such page')`));
    expect(expected).toMatch(/INFO\/MainProcess/);
    expect(expected?.trim().split('\n')).toHaveLength(1);
    expect(t.logs.find((l) => l.includes(`[${bug.id}] raised unexpected`))).toMatch(
      /ERROR\/MainProcess[\s\S]*RangeError: bug/,
    );
  });

  it('times out get() with a clear error', async () => {
    t = memoryApp();
    const r = t.app.AsyncResult('never-sent');
    await expect(r.get({ timeout: 0.05 })).rejects.toMatchObject({ code: 'E_RESULT_TIMEOUT' });
  });

  it('stores custom states with updateState', async () => {
    t = memoryApp();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const job = t.app.task('tasks.progress', async () => {
      await currentTask().updateState('PROGRESS', { done: 3, total: 10 });
      await gate;
      return 'done';
    });
    await t.startWorker();
    const r = await job.delay();
    await waitUntil(
      async () => {
        await r.refresh();
        return r.state === 'PROGRESS';
      },
      5000,
      'PROGRESS state',
    );
    expect(r.info).toEqual({ done: 3, total: 10 });
    release();
    expect(await r.get({ timeout: 5 })).toBe('done');
  });
});

describe('options are validated at definition', () => {
  it('names a misspelt task option and suggests the right one', () => {
    t = memoryApp();
    expect(() => t.app.task('x', () => 1, { maxRetry: 3 } as never)).toThrow(
      /Unknown option of task "x" "maxRetry" \(did you mean "maxRetries"\?\)/,
    );
    expect(() => t.app.task('y', () => 1, { acks_late: true } as never)).toThrow(/did you mean "acksLate"/);
  });
  it('rejects a duplicate task name and a misspelt send option', async () => {
    t = memoryApp();
    const a = t.app.task('dup', () => 1);
    expect(() => t.app.task('dup', () => 2)).toThrow(/already registered/);
    await expect(a.applyAsync([], { countDown: 1 } as never)).rejects.toThrow(/did you mean "countdown"/);
  });
});
