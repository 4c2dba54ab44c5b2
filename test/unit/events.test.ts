import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, type CeleryEvent, currentTask, Reject } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker, WorkerOptions } from '../../src/worker/worker.js';
import { uniq, waitUntil } from '../helpers/services.js';

/** A worker app and a monitor app on one memory namespace, as two processes on one Redis. */
function cluster(settings: Record<string, unknown> = {}) {
  const url = `memory://${uniq('ev')}`;
  const app = new Celeriac({ broker: url, backend: url, ...settings });
  const monitor = new Celeriac({ broker: url, backend: url });
  const events: CeleryEvent[] = [];
  const keys: string[] = [];
  const state = monitor.events.state();
  const receiver = monitor.events.receiver({
    handlers: {
      '*': (e) => {
        events.push(e);
        state.event(e);
      },
    },
  });
  const logs: string[] = [];
  const workers: Worker[] = [];
  return {
    app,
    monitor,
    events,
    keys,
    state,
    receiver,
    logs,
    /** Every routing key published on celeryev, raw. */
    async tapKeys() {
      const b = await monitor.broker();
      await b.broadcast?.subscribe({ name: 'celeryev', type: 'topic' }, '#', (m) => keys.push(m.routingKey), {
        queue: 'tap',
      });
    },
    async start(options: WorkerOptions = {}) {
      await receiver.start();
      const w = app.worker({ logger: createLogger('debug', (l) => logs.push(l)), ...options });
      await w.start();
      workers.push(w);
      return w;
    },
    types: () => events.map((e) => e.type),
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await receiver.close();
      await Promise.all([app.close(), monitor.close()]);
    },
  };
}

let c: ReturnType<typeof cluster> | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

describe('worker events', () => {
  it('sends worker-online and heartbeats without -E, and no task events', async () => {
    c = cluster();
    c.app.task('t.add', (x: number, y: number) => x + y);
    const w = await c.start({ heartbeatInterval: 0.05 });
    const r = await c.app.sendTask('t.add', [1, 2]);
    await r.get({ timeout: 5 });
    await waitUntil(() => c!.types().filter((t) => t === 'worker-heartbeat').length >= 2, 5000, 'heartbeats');
    const online = c.events.find((e) => e.type === 'worker-online') as CeleryEvent;
    expect(online).toMatchObject({
      hostname: w.hostname,
      pid: process.pid,
      freq: 0.05,
      active: 0,
      processed: 0,
      sw_ident: 'celeriac',
      sw_sys: expect.any(String),
      utcoffset: Math.floor(new Date().getTimezoneOffset() / 60),
    });
    expect(online.loadavg).toHaveLength(3);
    expect(typeof online.timestamp).toBe('number');
    expect(typeof online.clock).toBe('number');
    await waitUntil(
      () => c!.events.some((e) => e.type === 'worker-heartbeat' && e.processed === 1),
      5000,
      'processed',
    );
    expect(c.types().some((t) => t.startsWith('task-'))).toBe(false);
    const sw = c.state.workers.get(w.hostname);
    expect(sw?.alive).toBe(true);
    await w.stop();
    await waitUntil(() => c!.types().includes('worker-offline'), 5000, 'offline');
    expect(c.state.workers.get(w.hostname)?.alive).toBe(false);
  });

  it('sends no worker events with withoutHeartbeat', async () => {
    c = cluster();
    c.app.task('t.noop', () => null);
    await c.tapKeys();
    const w = await c.start({ withoutHeartbeat: true, taskEvents: true, heartbeatInterval: 0.02 });
    await (await c.app.sendTask('t.noop')).get({ timeout: 5 });
    await waitUntil(() => c!.types().includes('task-succeeded'), 5000, 'task events');
    await w.stop();
    expect(c.keys.filter((k) => k.startsWith('worker.'))).toEqual([]);
  });

  it('-E: task-received, -started and -succeeded with Celery’s fields; the State folds them', async () => {
    c = cluster();
    c.app.task('t.add', (x: number, y: number) => x + y);
    const w = await c.start({ taskEvents: true });
    const r = await c.app.sendTask('t.add', [2, 3], {}, { countdown: 0 });
    await r.get({ timeout: 5 });
    await waitUntil(() => c!.types().includes('task-succeeded'), 5000, 'succeeded');
    const mine = c.events.filter((e) => e.uuid === r.id);
    expect(mine.map((e) => e.type)).toEqual(['task-received', 'task-started', 'task-succeeded']);
    expect(mine[0]).toMatchObject({
      hostname: w.hostname,
      name: 't.add',
      args: '(2, 3)',
      kwargs: '{}',
      root_id: r.id,
      parent_id: null,
      retries: 0,
      expires: null,
    });
    expect(mine[0]?.eta).toMatch(/^\d{4}-\d\d-\d\dT.*\+00:00$/);
    expect(mine[2]).toMatchObject({ result: '5', runtime: expect.any(Number) });
    const clocks = mine.map((e) => e.clock as number);
    expect([...clocks].sort((a, b) => a - b)).toEqual(clocks);
    const t = c.state.tasks.get(r.id);
    expect(t).toMatchObject({ state: 'SUCCESS', name: 't.add', result: '5', worker: w.hostname });
    expect(t?.runtime).toBeGreaterThanOrEqual(0);
    expect(t?.received).toBeLessThanOrEqual(t?.succeeded as number);
    // The receiver kept the monitor's clock past what it saw.
    expect(c.monitor.clock.value).toBeGreaterThan(Math.max(...clocks));
  });

  it('failed, retried, rejected and revoked carry exception, traceback, requeue, expired', async () => {
    c = cluster();
    c.app.task('t.boom', () => {
      throw new TypeError('boom');
    });
    c.app.task('t.flaky', () => {
      const ctx = currentTask();
      if (ctx.retries < 1) throw ctx.retry({ countdown: 0, exc: new RangeError('again') });
      return 'ok';
    });
    c.app.task('t.reject', () => {
      throw new Reject('no', false);
    });
    c.app.task('t.slow', () => 1);
    await c.start({ taskEvents: true });
    const boom = await c.app.sendTask('t.boom');
    const flaky = await c.app.sendTask('t.flaky');
    const rej = await c.app.sendTask('t.reject');
    const exp = await c.app.sendTask('t.slow', [], {}, { expires: new Date(Date.now() - 1000) });
    await waitUntil(
      () =>
        ['task-failed', 'task-retried', 'task-rejected', 'task-revoked'].every((t) =>
          c!.types().includes(t),
        ) && c!.state.tasks.get(flaky.id)?.state === 'SUCCESS',
      5000,
      'events',
    );
    const by = (id: string, type: string) => c!.events.find((e) => e.uuid === id && e.type === type);
    expect(by(boom.id, 'task-failed')).toMatchObject({ exception: "TypeError('boom')" });
    expect(by(boom.id, 'task-failed')?.traceback).toContain('boom');
    expect(by(flaky.id, 'task-retried')).toMatchObject({ exception: "RangeError('again')" });
    expect(by(rej.id, 'task-rejected')).toMatchObject({ requeue: false });
    expect(by(exp.id, 'task-revoked')).toMatchObject({ expired: true, terminated: false, signum: null });
    expect(by(exp.id, 'task-received')).toBeUndefined(); // revoked before it was received, as Celery
    expect(c.state.tasks.get(boom.id)?.state).toBe('FAILURE');
    // Celery's precedence puts REJECTED before STARTED, so its State (and ours) keeps STARTED.
    expect(c.state.tasks.get(rej.id)).toMatchObject({ state: 'STARTED', requeue: false });
    expect(c.state.tasks.get(rej.id)?.rejected).toEqual(expect.any(Number));
    expect(c.state.tasks.get(exp.id)?.state).toBe('REVOKED');
  });

  it('batches task events of one tick into task.multi lists of at most 24, which the receiver unpacks', async () => {
    c = cluster();
    const noop = c.app.task('t.noop', () => null);
    await c.tapKeys();
    await c.start({ taskEvents: true, concurrency: 50 });
    const ids = (await noop.applyMany(Array.from({ length: 200 }, () => []))).map((r) => r.id);
    await waitUntil(() => c!.types().filter((t) => t === 'task-succeeded').length === 200, 10_000, 'all');
    expect(c.keys).toContain('task.multi');
    expect(new Set(c.events.filter((e) => e.type === 'task-succeeded').map((e) => e.uuid))).toEqual(
      new Set(ids),
    );
    const b = await c.monitor.broker();
    const sizes: number[] = [];
    await b.broadcast?.subscribe(
      { name: 'celeryev', type: 'topic' },
      'task.multi',
      (m) => {
        sizes.push((JSON.parse(m.message.body.toString()) as unknown[]).length);
      },
      { queue: 'sizes' },
    );
    await noop.applyMany(Array.from({ length: 100 }, () => []));
    await waitUntil(() => c!.types().filter((t) => t === 'task-succeeded').length === 300, 10_000, 'more');
    expect(Math.max(...sizes)).toBeLessThanOrEqual(24);
  });

  it('enable_events / disable_events / heartbeat control commands', async () => {
    c = cluster();
    c.app.task('t.noop', () => null);
    const w = await c.start({ heartbeatInterval: 60 });
    const handlers = controlOf(w);
    expect(handlers.enable_events?.({})).toEqual({ ok: 'task events enabled' });
    expect(handlers.enable_events?.({})).toEqual({ ok: 'task events already enabled' });
    const r = await c.app.sendTask('t.noop');
    await waitUntil(() => c!.events.some((e) => e.uuid === r.id && e.type === 'task-succeeded'), 5000, 'on');
    expect(handlers.disable_events?.({})).toEqual({ ok: 'task events disabled' });
    expect(handlers.disable_events?.({})).toEqual({ ok: 'task events already disabled' });
    const r2 = await c.app.sendTask('t.noop');
    await r2.get({ timeout: 5 });
    const before = c.types().filter((t) => t === 'worker-heartbeat').length;
    expect(handlers.heartbeat?.({})).toBeUndefined();
    await waitUntil(() => c!.types().filter((t) => t === 'worker-heartbeat').length > before, 5000, 'hb');
    expect(c.events.some((e) => e.uuid === r2.id)).toBe(false);
  });

  it('task-sent from the client with taskSendSentEvent, its clock replaced by the receiver', async () => {
    c = cluster({ taskSendSentEvent: true });
    await c.receiver.start();
    const r = await c.app.sendTask('t.elsewhere', [1], { k: 'v' }, { queue: 'q1' });
    await waitUntil(() => c!.types().includes('task-sent'), 5000, 'sent');
    const e = c.events[0] as CeleryEvent;
    expect(e).toMatchObject({
      type: 'task-sent',
      uuid: r.id,
      name: 't.elsewhere',
      args: '(1,)',
      kwargs: "{'k': 'v'}",
      queue: 'q1',
      routing_key: 'q1',
      exchange: '',
      retries: 0,
    });
    expect(e.hostname).toMatch(/^gen\d+@/);
    expect(c.state.tasks.get(r.id)?.state).toBe('PENDING');
    expect(c.state.tasks.get(r.id)?.client).toBe(e.hostname);
  });

  it('the receiver reports a message that is not JSON and a handler that throws, and goes on', async () => {
    c = cluster();
    const errors: string[] = [];
    const got: string[] = [];
    const recv = c.monitor.events.receiver({
      handlers: {
        'worker-heartbeat': () => {
          throw new Error('handler bug');
        },
        'task-succeeded': (e) => void got.push(e.uuid as string),
      },
      onError: (err) => void errors.push(err.message),
    });
    await recv.start();
    const b = await c.app.broker();
    const x = { name: 'celeryev', type: 'topic' as const };
    const msg = (body: string) => ({
      body: Buffer.from(body),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { hostname: 'x@h' },
      properties: { delivery_mode: 1 },
    });
    await b.broadcast?.publish(x, 'task.succeeded', msg('{not json'));
    await b.broadcast?.publish(
      x,
      'worker.heartbeat',
      msg('{"type":"worker-heartbeat","hostname":"x@h","timestamp":1}'),
    );
    await b.broadcast?.publish(
      x,
      'task.multi',
      msg('[{"type":"task-succeeded","uuid":"u1","hostname":"x@h","timestamp":1,"clock":40},{"nope":1}]'),
    );
    await waitUntil(() => got.length === 1 && errors.length === 3, 5000, 'both');
    await recv.close();
    expect(got).toEqual(['u1']);
    expect(errors[0]).toMatch(/not JSON/);
    expect(errors[1]).toMatch(/the handler of worker-heartbeat threw: handler bug/);
    expect(errors[2]).toMatch(/without a type/);
    expect(c.monitor.clock.value).toBeGreaterThan(40);
  });

  it('a broker without broadcast: the receiver says so; the worker runs without events', async () => {
    const app = new Celeriac({ broker: 'memory://', backend: 'memory://' });
    const b = await app.broker();
    // memory:// has broadcast; a receiver on a host whose broker lacks it fails with a clear message.
    const bare = {
      ...b,
      broadcast: undefined,
      capabilities: { ...b.capabilities, broadcast: false },
      transport: 'bare',
    };
    const { EventReceiver } = await import('../../src/events/receiver.js');
    const r = new EventReceiver(
      { clock: app.clock, conf: app.conf, broker: async () => bare as typeof b },
      { handlers: {} },
    );
    await expect(r.start()).rejects.toThrow(/the bare broker has no broadcast exchanges/);
    expect(() => app.events.receiver({ handlers: { x: 1 as unknown as () => void } })).toThrow(
      /handler for "x" must be a function/,
    );
    await app.close();
  });
});

/** The control handlers of a started worker, by method (what the mailbox dispatches to). */
function controlOf(w: Worker): Record<string, ((a: Record<string, unknown>) => unknown) | undefined> {
  return new Proxy({}, { get: (_t, m: string) => w.controlHandler(m) });
}
