/**
 * Celery's signals through `app.on()`: one test per signal, with the arguments Celery passes (camelCased),
 * and a throwing handler that is logged with the signal name and task id without changing the outcome.
 * Every test waits on the signal or the result; none sleeps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SignalMap, SignalName } from '../../src/index.js';
import { currentTask, TaskError } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { waitUntil } from '../helpers/services.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

/** Collect every call of `name` on the test app. */
function record<K extends SignalName>(name: K): SignalMap[K][] {
  const calls: SignalMap[K][] = [];
  t.app.on(name, (args) => {
    calls.push(args);
  });
  return calls;
}

describe('task signals', () => {
  it('task_received, task_prerun, task_postrun and task_success carry the request, the task and the result', async () => {
    t = memoryApp();
    const add = t.app.task('sig.add', (x: number, y: number) => x + y);
    const received = record('task_received');
    const prerun = record('task_prerun');
    const postrun = record('task_postrun');
    const success = record('task_success');
    await t.startWorker();
    const r = await add.delay(2, 3);
    expect(await r.get({ timeout: 5 })).toBe(5);
    await waitUntil(() => success.length === 1, 5000, 'task_success');
    expect(received[0]?.request.id).toBe(r.id);
    expect(received[0]?.sender).toBe(add);
    expect(prerun[0]).toMatchObject({ taskId: r.id, task: add, sender: add, args: [2, 3], kwargs: {} });
    expect(postrun[0]).toMatchObject({ taskId: r.id, retval: 5, state: 'SUCCESS', args: [2, 3] });
    expect(success[0]).toMatchObject({ sender: add, result: 5 });
    expect(success[0]?.request.id).toBe(r.id);
  });

  it('task_failure carries the exception, traceback, args and kwargs', async () => {
    t = memoryApp();
    const boom = t.app.task('sig.boom', (what: string) => {
      throw new RangeError(`bad ${what}`);
    });
    const failures = record('task_failure');
    const postrun = record('task_postrun');
    await t.startWorker();
    const r = await boom.delay('input');
    await expect(r.get({ timeout: 5 })).rejects.toBeInstanceOf(TaskError);
    await waitUntil(() => failures.length === 1, 5000, 'task_failure');
    expect(failures[0]).toMatchObject({ taskId: r.id, args: ['input'], kwargs: {}, sender: boom });
    expect(failures[0]?.exception).toMatchObject({ exc_type: 'RangeError', exc_message: ['bad input'] });
    expect(failures[0]?.traceback).toContain('RangeError: bad input');
    expect(postrun[0]?.state).toBe('FAILURE');
  });

  it('task_retry carries the reason, and the retried run succeeds', async () => {
    t = memoryApp();
    const flaky = t.app.task('sig.flaky', () => {
      const ctx = currentTask();
      if (ctx.retries < 1) throw ctx.retry({ countdown: 0, exc: new Error('try again') });
      return ctx.retries;
    });
    const retries = record('task_retry');
    await t.startWorker();
    const r = await flaky.delay();
    expect(await r.get({ timeout: 5 })).toBe(1);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ reason: 'try again', sender: flaky });
    expect(retries[0]?.request.id).toBe(r.id);
    expect(retries[0]?.exception?.exc_message).toEqual(['try again']);
  });

  it('task_revoked says whether the task expired', async () => {
    t = memoryApp();
    const noop = t.app.task('sig.noop', () => null);
    const revoked = record('task_revoked');
    await t.startWorker();
    const r = await noop.applyAsync([], { expires: new Date(Date.now() - 1000) });
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TaskRevokedError' });
    await waitUntil(() => revoked.length === 1, 5000, 'task_revoked');
    expect(revoked[0]).toMatchObject({ expired: true, terminated: false, signum: null, sender: noop });
  });

  it('task_revoked for a revoked id, through worker.revoke()', async () => {
    t = memoryApp();
    const noop = t.app.task('sig.noop2', () => null);
    const revoked = record('task_revoked');
    const w = await t.startWorker();
    w.revoke('will-not-run');
    const r = await noop.applyAsync([], { taskId: 'will-not-run' });
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TaskRevokedError' });
    await waitUntil(() => revoked.length === 1, 5000, 'task_revoked');
    expect(revoked[0]).toMatchObject({ expired: false });
    expect(revoked[0]?.request.id).toBe('will-not-run');
  });

  it('task_unknown for an unregistered task, task_rejected for an undecodable message', async () => {
    t = memoryApp();
    const unknown = record('task_unknown');
    const rejected = record('task_rejected');
    await t.startWorker();
    const r = await t.app.sendTask('sig.nobody', [1]);
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'NotRegistered' });
    await waitUntil(() => unknown.length === 1, 5000, 'task_unknown');
    expect(unknown[0]).toMatchObject({ name: 'sig.nobody', id: r.id });
    expect(unknown[0]?.exc.name).toBe('NotRegistered');
    const broker = await t.app.broker();
    await broker.publish('celery', {
      body: Buffer.from('not json'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { task: 'sig.x', id: 'undecodable-1' },
      properties: {},
    });
    await waitUntil(() => rejected.length === 1, 5000, 'task_rejected');
    expect(rejected[0]?.message.headers.id).toBe('undecodable-1');
    expect(rejected[0]?.exc).toBeInstanceOf(Error);
  });
});

describe('publish signals', () => {
  it('before_task_publish and after_task_publish see the name, body, routing key and headers', async () => {
    t = memoryApp();
    const add = t.app.task('sig.pub', (x: number) => x);
    const before = record('before_task_publish');
    const after = record('after_task_publish');
    // A handler may add a header before the message leaves, as with Celery.
    t.app.on('before_task_publish', ({ headers }) => {
      headers['x-trace'] = 'abc';
    });
    const seen: unknown[] = [];
    const r = await add.applyAsync([7], { queue: 'pubq', kwargs: {} });
    expect(before[0]).toMatchObject({ sender: 'sig.pub', routingKey: 'pubq', exchange: '', body: [[7], {}] });
    expect(before[0]?.headers.id).toBe(r.id);
    expect(after[0]).toMatchObject({ sender: 'sig.pub', routingKey: 'pubq' });
    const broker = await t.app.broker();
    const consumer = await broker.consume(
      ['pubq'],
      (d) => {
        seen.push(d.message.headers['x-trace']);
        void d.ack();
      },
      { prefetch: 1 },
    );
    await waitUntil(() => seen.length === 1, 5000, 'the published message');
    await consumer.cancel();
    expect(seen).toEqual(['abc']);
  });
});

describe('worker signals', () => {
  it('worker_init, worker_ready and worker_shutdown, with the worker as sender', async () => {
    t = memoryApp();
    const order: string[] = [];
    t.app.on('worker_init', ({ sender }) => void order.push(`init ${sender.hostname}`));
    t.app.on('worker_ready', ({ sender }) => void order.push(`ready ${sender.hostname}`));
    t.app.on('worker_shutdown', ({ sender }) => void order.push(`shutdown ${sender.hostname}`));
    const w = await t.startWorker({ hostname: 'sig@test' });
    expect(order).toEqual(['init sig@test', 'ready sig@test']);
    await w.stop();
    expect(order).toEqual(['init sig@test', 'ready sig@test', 'shutdown sig@test']);
  });
});

describe('robust handlers', () => {
  it('a throwing handler is logged with the signal and the task id; the task still succeeds', async () => {
    t = memoryApp();
    const add = t.app.task('sig.robust', (x: number) => x * 2);
    t.app.on('task_prerun', () => {
      throw new Error('handler broke');
    });
    t.app.on('task_success', async () => {
      throw new Error('async handler broke');
    });
    const success = record('task_success');
    await t.startWorker();
    const r = await add.delay(21);
    expect(await r.get({ timeout: 5 })).toBe(42);
    await waitUntil(
      () => t.logs.some((l) => l.includes('async handler broke')),
      5000,
      'the logged rejection',
    );
    expect(t.logs.find((l) => l.includes('handler broke') && l.includes('task_prerun'))).toContain(
      `Signal task_prerun handler raised (task ${r.id})`,
    );
    expect(t.logs.find((l) => l.includes('async handler broke'))).toContain(
      `Signal task_success handler raised (task ${r.id})`,
    );
    // The other handler of the same signal still ran, and the worker keeps serving.
    expect(success).toHaveLength(1);
    expect(await (await add.delay(1)).get({ timeout: 5 })).toBe(2);
  });

  it('on() returns a function that removes the handler', async () => {
    t = memoryApp();
    const add = t.app.task('sig.off', (x: number) => x);
    const calls: string[] = [];
    const off = t.app.on('after_task_publish', ({ headers }) => void calls.push(headers.id as string));
    const first = await add.delay(1);
    off();
    await add.delay(2);
    expect(calls).toEqual([first.id]);
    expect(t.app.signals.has('after_task_publish')).toBe(false);
  });
});
