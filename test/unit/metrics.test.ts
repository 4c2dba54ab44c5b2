/**
 * The metrics middleware on a real worker (memory broker): its own server on a free loopback port, read
 * with fetch as Prometheus would, shows the documented series rising as tasks run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { currentTask } from '../../src/index.js';
import { metrics } from '../../src/middleware/metrics.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { uniq, waitUntil } from '../helpers/services.js';

let t: TestApp | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

/** The value of one series (name and exact labels) in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const kv of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      got[kv[1] as string] = kv[2] as string;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}

describe('metrics', () => {
  it('serves the documented series on loopback, rising as tasks run', async () => {
    const queue = uniq('q');
    t = memoryApp({ taskDefaultQueue: queue, workerDeadLetterQueue: null });
    const m = metrics({ port: 0 });
    t.app.use(m);
    let tries = 0;
    const add = t.app.task('m.add', (x: number, y: number) => x + y);
    const boom = t.app.task('m.boom', () => {
      throw new Error('no');
    });
    const flaky = t.app.task('m.flaky', () => {
      if (tries++ === 0) throw currentTask().retry({ countdown: 0 });
      return 1;
    });
    const w = await t.startWorker({ hostname: 'm1@test' });
    const addr = m.address;
    expect(addr?.host).toBe('127.0.0.1');
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${addr?.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/plain/);
      return res.text();
    };
    const before = await scrape();
    expect(sample(before, 'flower_worker_online', { worker: 'm1@test' })).toBe(1);
    expect(sample(before, 'flower_events_total', { task: 'm.add', type: 'task-succeeded' })).toBeUndefined();

    for (let i = 0; i < 3; i++) await (await add.delay(i, 1)).get({ timeout: 5 });
    await (await boom.delay()).get({ timeout: 5 }).catch(() => null);
    await (await flaky.delay()).get({ timeout: 5 });
    const broker = await t.app.broker();
    // A well-formed message of a task nobody registered: the worker dead-letters it.
    const unknown = { id: 'x1', name: 'm.nobody', args: [], kwargs: {}, origin: 'test', replyTo: '' };
    await broker.publish(queue, buildTaskMessage({ ...unknown, now: new Date() }));
    await waitUntil(
      async () =>
        (sample(await scrape(), 'celeriac_dead_letters_total', { reason: 'unregistered' }) ?? 0) === 1,
    );
    const after = await scrape();
    const w1 = { worker: 'm1@test' };
    expect(sample(after, 'flower_events_total', { ...w1, type: 'task-received', task: 'm.add' })).toBe(3);
    expect(sample(after, 'flower_events_total', { ...w1, type: 'task-started', task: 'm.add' })).toBe(3);
    expect(sample(after, 'flower_events_total', { ...w1, type: 'task-succeeded', task: 'm.add' })).toBe(3);
    expect(sample(after, 'flower_events_total', { ...w1, type: 'task-failed', task: 'm.boom' })).toBe(1);
    expect(sample(after, 'flower_events_total', { ...w1, type: 'task-retried', task: 'm.flaky' })).toBe(1);
    expect(sample(after, 'flower_events_total', { ...w1, type: 'task-succeeded', task: 'm.flaky' })).toBe(1);
    expect(sample(after, 'flower_task_runtime_seconds_count', { ...w1, task: 'm.add' })).toBe(3);
    expect(sample(after, 'flower_task_runtime_seconds_bucket', { ...w1, task: 'm.add', le: '10' })).toBe(3);
    expect(sample(after, 'celeriac_task_queue_wait_seconds_count', { ...w1, task: 'm.add' })).toBe(3);
    expect(sample(after, 'flower_worker_prefetched_tasks', { ...w1, task: 'm.add' })).toBe(0);
    expect(sample(after, 'flower_task_prefetch_time_seconds', { ...w1, task: 'm.add' })).toBe(0);
    expect(sample(after, 'flower_worker_number_of_currently_executing_tasks', w1)).toBe(0);
    expect(sample(after, 'celeriac_tasks_in_flight', w1)).toBe(0);
    expect(sample(after, 'celeriac_tasks_prefetched', w1)).toBe(0);
    expect(sample(after, 'celeriac_tasks_scheduled', w1)).toBe(0);
    expect(sample(after, 'celeriac_queue_depth', { queue })).toBe(0);
    expect(sample(after, 'celeriac_pool_processes', { ...w1, pool: 'main' })).toBe(1);
    expect(sample(after, 'celeriac_broker_reconnects_total', w1)).toBe(0);
    expect(sample(after, 'celeriac_event_loop_lag_seconds', { ...w1, quantile: '0.99' })).toBeGreaterThan(0);
    expect(after).toContain('# TYPE celeriac_event_loop_stalls_total counter');
    expect(after).toContain('# TYPE celeriac_pool_recycles_total counter');
    await w.stop();
    expect(sample(await m.text(), 'flower_worker_online', w1)).toBe(0);
    const res = await fetch(`http://127.0.0.1:${addr?.port}/metrics`).catch((e: Error) => e);
    expect(res).toBeInstanceOf(Error); // the server stopped with the last worker
  });

  it('answers 404 off /metrics', async () => {
    t = memoryApp({ taskDefaultQueue: uniq('q') });
    const m = metrics({ port: 0 });
    t.app.use(m);
    await t.startWorker();
    const res = await fetch(`http://127.0.0.1:${m.address?.port}/other`);
    expect(res.status).toBe(404);
  });
});
