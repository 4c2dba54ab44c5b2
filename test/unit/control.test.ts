import { afterEach, describe, expect, it } from 'vitest';
import { globToRegExp, matchName, pcreToRegExp, selects } from '../../src/control/match.js';
import type { Middleware } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { waitUntil } from '../helpers/services.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

describe('matching node names (kombu glob and pcre)', () => {
  it('globs like fnmatch, whole name', () => {
    expect(matchName('w1@host', 'w*', 'glob')).toBe(true);
    expect(matchName('w1@host', 'w?@host', 'glob')).toBe(true);
    expect(matchName('w1@host', 'w[0-9]@*', 'glob')).toBe(true);
    expect(matchName('w1@host', 'w[!1]@*', 'glob')).toBe(false);
    expect(matchName('w1@host', 'w1', 'glob')).toBe(false);
    expect(globToRegExp('a.b').test('aXb')).toBe(false);
  });

  it('pcre is re.match: anchored at the start only, Python syntax translated', () => {
    expect(matchName('w1@host', 'w1', 'pcre')).toBe(true);
    expect(matchName('xw1@host', 'w1', 'pcre')).toBe(false);
    expect(matchName('W1@host', '(?i)w1', 'pcre')).toBe(true);
    expect(pcreToRegExp('(?P<n>w)\\d(?P=n)?').test('w1')).toBe(true);
    expect(() => pcreToRegExp('(?x) w 1')).toThrow(/verbose/);
    expect(matchName('w1@host', 'w1', 'nope')).toBe(false);
  });

  it('destination wins over pattern; none selects everyone', () => {
    expect(selects('a@h', { destination: ['a@h'], pattern: 'b*', matcher: 'glob' })).toBe(true);
    expect(selects('a@h', { destination: ['b@h'] })).toBe(false);
    expect(selects('a@h', { destination: [], pattern: 'a*', matcher: 'glob' })).toBe(true);
    expect(selects('a@h', {})).toBe(true);
  });
});

describe('remote control on memory://', () => {
  it('pings, selects by destination and pattern, and replies to unknown methods with KeyError', async () => {
    t = memoryApp();
    await t.startWorker({ hostname: 'w1@test', mingle: false });
    await t.startWorker({ hostname: 'w2@test', mingle: false });
    const c = t.app.control;
    const all = await c.ping({ timeout: 0.3 });
    expect(all.map((r) => Object.keys(r)[0]).sort()).toEqual(['w1@test', 'w2@test']);
    expect(all[0]).toEqual({ [Object.keys(all[0] as object)[0] as string]: { ok: 'pong' } });
    expect(await c.ping({ destination: ['w2@test'], timeout: 5 })).toEqual([{ 'w2@test': { ok: 'pong' } }]);
    expect(await c.inspect({ pattern: '*1@*', matcher: 'glob', timeout: 0.3 }).ping()).toEqual({
      'w1@test': { ok: 'pong' },
    });
    expect(await c.inspect({ pattern: 'w2', matcher: 'pcre', timeout: 0.3 }).ping()).toEqual({
      'w2@test': { ok: 'pong' },
    });
    expect(await c.broadcast('no_such', {}, { reply: true, destination: 'w1@test' })).toEqual([
      { 'w1@test': { error: "KeyError('no_such')" } },
    ]);
    const clock = await c.inspect({ destination: 'w1@test' }).clock();
    expect(clock['w1@test']?.clock).toBeGreaterThan(0);
  });

  it('answers inspect commands with Celery’s shapes', async () => {
    t = memoryApp();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow = t.app.task('ctl.slow', async (n: number) => {
      await gate;
      return n;
    });
    const limited = t.app.task('ctl.limited', (n: number) => n, { rateLimit: '1/h' });
    const w = await t.startWorker({ hostname: 'w1@test', mingle: false, concurrency: 4 });
    const running = await slow.delay(1);
    const eta = await slow.applyAsync([2], { countdown: 3600 });
    await limited.delay(1);
    const held = await limited.delay(2);
    await waitUntil(() => (w.stats() as { reserved: number }).reserved === 1, 5000, 'held run');
    await waitUntil(() => (w.stats() as { active: number }).active === 1, 5000, 'active');
    const i = t.app.control.inspect({ destination: 'w1@test' });
    const active = (await i.active())['w1@test'] as Record<string, unknown>[];
    expect(active).toHaveLength(1);
    expect(active[0]).toMatchObject({
      id: running.id,
      name: 'ctl.slow',
      args: [1],
      kwargs: {},
      type: 'ctl.slow',
      hostname: 'w1@test',
      acknowledged: true,
      worker_pid: process.pid,
      delivery_info: { routing_key: 'celery', redelivered: false },
    });
    expect(typeof active[0]?.time_start).toBe('number');
    expect((await i.active(true))['w1@test']?.[0]).toMatchObject({ args: '(1,)', kwargs: '{}' });
    expect((await i.reserved())['w1@test']?.map((r) => r.id)).toEqual([held.id]);
    const scheduled = (await i.scheduled())['w1@test'] as Record<string, unknown>[];
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]).toMatchObject({ priority: 6, request: { id: eta.id, name: 'ctl.slow' } });
    expect(String(scheduled[0]?.eta)).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await i.registered())['w1@test']).toEqual(['ctl.limited [rate_limit=1/h]', 'ctl.slow']);
    const q = await i.queryTask(running.id, held.id, 'unknown');
    expect(q['w1@test']?.[running.id]?.[0]).toBe('active');
    expect(q['w1@test']?.[held.id]?.[0]).toBe('reserved');
    expect(Object.keys(q['w1@test'] ?? {})).toHaveLength(2);
    const stats = (await i.stats())['w1@test'] as Record<string, unknown>;
    expect(stats).toMatchObject({
      pid: process.pid,
      total: { 'ctl.limited': 1 },
      pool: { 'max-concurrency': 4, processes: [process.pid], timeouts: [] },
      broker: { transport: 'memory' },
    });
    expect(typeof stats.clock).toBe('string');
    expect(stats.rusage).toHaveProperty('maxrss');
    const queues = (await i.activeQueues())['w1@test'] as Record<string, unknown>[];
    expect(queues).toEqual([
      expect.objectContaining({
        name: 'celery',
        routing_key: 'celery',
        exchange: expect.objectContaining({ name: 'celery', type: 'direct' }),
        durable: true,
        max_priority: null,
      }),
    ]);
    const conf = (await i.conf())['w1@test'] as Record<string, unknown>;
    expect(conf.worker_hostname).toBe('w1@test');
    expect(conf).not.toHaveProperty('task_default_queue');
    expect(String((await i.report())['w1@test']?.ok)).toMatch(/software -> celeriac:/);
    release();
  });

  it('obeys rate_limit, time_limit, revoke, pool_grow/shrink, add/cancel_consumer and shutdown', async () => {
    t = memoryApp();
    const ran: number[] = [];
    const limited = t.app.task('ctl.limited', (n: number) => ran.push(n), { rateLimit: '1/h' });
    const w = await t.startWorker({ hostname: 'w1@test', mingle: false, concurrency: 2 });
    const c = t.app.control;
    const opts = { reply: true, destination: 'w1@test' };
    await (await limited.delay(1)).get({ timeout: 5 });
    const second = await limited.delay(2);
    await waitUntil(() => (w.stats() as { reserved: number }).reserved === 1, 5000, 'held');
    expect(await c.rateLimit('ctl.limited', 'x/y', opts)).toEqual([
      { 'w1@test': { error: expect.stringMatching(/^Invalid rate limit string/) } },
    ]);
    expect(await c.rateLimit('nope', '5/s', opts)).toEqual([{ 'w1@test': { error: 'unknown task' } }]);
    expect(await c.rateLimit('ctl.limited', '100/s', opts)).toEqual([
      { 'w1@test': { ok: 'new rate limit set successfully' } },
    ]);
    // The held run keeps its slot in the heap; a new one passes at the new rate at once.
    const third = await limited.delay(3);
    expect(await third.get({ timeout: 5 })).toBe(2);
    expect(second.id).toBeTruthy();

    expect(await c.timeLimit('ctl.limited', { soft: 1, hard: 2 }, opts)).toEqual([
      { 'w1@test': { ok: 'time limits set successfully' } },
    ]);

    const doomed = 'd0e5e5e5-0000-4000-8000-000000000001';
    expect(await c.revoke(doomed, opts)).toEqual([
      { 'w1@test': { ok: `tasks ${doomed} flagged as revoked` } },
    ]);
    expect(await c.inspect({ destination: 'w1@test' }).revoked()).toEqual({ 'w1@test': [doomed] });
    const r = await limited.applyAsync([9], { taskId: doomed });
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TaskRevokedError' });

    expect(await c.poolGrow(2, opts)).toEqual([{ 'w1@test': { ok: 'pool will grow' } }]);
    expect(w.pool?.concurrency).toBe(4);
    expect(await c.poolShrink(1, opts)).toEqual([{ 'w1@test': { ok: 'pool will shrink' } }]);
    expect(w.pool?.concurrency).toBe(3);
    expect(await c.autoscale(4, 2, opts)).toEqual([
      { 'w1@test': { error: "ValueError('Autoscale not enabled')" } },
    ]);

    const other = t.app.task('ctl.other', (n: number) => n * 2, { queue: 'ctl-extra' });
    const pending = await other.delay(21);
    expect(await c.addConsumer('ctl-extra', {}, opts)).toEqual([
      { 'w1@test': { ok: 'add consumer ctl-extra' } },
    ]);
    expect(await pending.get({ timeout: 5 })).toBe(42);
    expect(w.queues).toEqual(['celery', 'ctl-extra']);
    const queues = await c.inspect({ destination: 'w1@test' }).activeQueues();
    expect(queues['w1@test']?.map((q) => q.name)).toEqual(['celery', 'ctl-extra']);
    expect(await c.cancelConsumer('ctl-extra', opts)).toEqual([
      { 'w1@test': { ok: 'no longer consuming from ctl-extra' } },
    ]);
    await waitUntil(() => w.queues.length === 1, 5000, 'cancel');

    expect(await c.shutdown({ ...opts, timeout: 0.2 })).toEqual([]);
    await w.stopped;
    expect(w.state).toBe('stopped');
    expect(t.logs.some((l) => l.includes('Got shutdown from remote'))).toBe(true);
  });

  it('loses no message while queues are added and cancelled under load', async () => {
    t = memoryApp();
    const seen = new Set<number>();
    const a = t.app.task('ctl.a', (n: number) => seen.add(n), { queue: 'ctl-a' });
    const b = t.app.task('ctl.b', (n: number) => seen.add(n), { queue: 'ctl-b' });
    const w = await t.startWorker({ hostname: 'w1@test', queues: ['ctl-a'], concurrency: 8 });
    const opts = { reply: true, destination: 'w1@test' };
    const results = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) {
        const n = round * 100 + i;
        results.push(await (i % 2 ? a : b).delay(n));
      }
      await t.app.control.addConsumer('ctl-b', {}, opts);
      await t.app.control.cancelConsumer('ctl-b', opts);
    }
    await t.app.control.addConsumer('ctl-b', {}, opts);
    await Promise.all(results.map((r) => r.get({ timeout: 20 })));
    expect(seen.size).toBe(100);
    expect(w.queues).toEqual(['ctl-a', 'ctl-b']);
  });

  it('builds each add_consumer/cancel_consumer on the one before, while the consumer is still being re-created', async () => {
    t = memoryApp();
    const b = t.app.task('ctl.b', (n: number) => n + 1, { queue: 'ctl-b' });
    const w = await t.startWorker({ hostname: 'w1@test', queues: ['ctl-a'], concurrency: 8 });
    const opts = { reply: true, destination: 'w1@test' };
    // The worker replies before its broker consumer follows: a burst of changes sent without waiting must
    // still end on the last one (the third add was once lost to the cancel still being applied).
    const c = t.app.control;
    await Promise.all([
      c.addConsumer('ctl-b', {}, opts),
      c.cancelConsumer('ctl-b', opts),
      c.addConsumer('ctl-b', {}, opts),
      c.cancelConsumer('ctl-b', opts),
      c.addConsumer('ctl-b', {}, opts),
    ]);
    expect(w.queues).toEqual(['ctl-a', 'ctl-b']);
    expect(await (await b.delay(1)).get({ timeout: 5 })).toBe(2);
    await c.cancelConsumer('ctl-b', opts);
    expect(w.queues).toEqual(['ctl-a']);
  });

  it('dispatches to a middleware’s control map; a handler that throws replies with its repr', async () => {
    const calls: unknown[] = [];
    const mw: Middleware = {
      name: 'test-events',
      worker: () => ({
        control: {
          enable_events: () => ({ ok: 'task events enabled' }),
          heartbeat: (a) => {
            calls.push(a);
            return undefined;
          },
          broken: () => {
            throw new TypeError('bad');
          },
        },
      }),
    };
    t = memoryApp({ middleware: [mw] });
    await t.startWorker({ hostname: 'w1@test', mingle: false });
    const opts = { reply: true, destination: 'w1@test' };
    expect(await t.app.control.enableEvents(opts)).toEqual([{ 'w1@test': { ok: 'task events enabled' } }]);
    expect(await t.app.control.heartbeat(opts)).toEqual([{ 'w1@test': null }]);
    expect(await t.app.control.broadcast('broken', {}, opts)).toEqual([
      { 'w1@test': { error: "TypeError('bad')" } },
    ]);
    await t.app.control.heartbeat(); // a cast: no reply wanted
    await waitUntil(() => calls.length === 2, 5000, 'cast');
  });

  it('mingles at start-up: the revoked ids and clock of running workers', async () => {
    t = memoryApp();
    const a = await t.startWorker({ hostname: 'a@test', mingle: true });
    expect(t.logs.some((l) => l.includes('mingle: all alone'))).toBe(true);
    a.revoke('r-1');
    const before = t.app.clock.value;
    const b = await t.startWorker({ hostname: 'b@test', mingle: true });
    expect(t.logs.some((l) => l.includes('mingle: sync with 1 nodes'))).toBe(true);
    expect(t.app.clock.value).toBeGreaterThan(before);
    const revoked = await t.app.control.inspect({ destination: 'b@test' }).revoked();
    expect(revoked).toEqual({ 'b@test': ['r-1'] });
    expect(b.state).toBe('running');
  });
});
