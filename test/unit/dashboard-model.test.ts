/**
 * The dashboard's per-second series and task store, on an injected clock; the Python-literal reader
 * retry falls back on; the workflow graph's reading of stored children; stalls from a stats reply.
 */
import { describe, expect, it } from 'vitest';
import { childIds } from '../../src/dashboard/graph.js';
import { parsePyLiteral } from '../../src/dashboard/literal.js';
import { poolName, stallsOf } from '../../src/dashboard/model.js';
import { checkBind, crossOrigin, Guard, isLoopback } from '../../src/dashboard/security.js';
import { Series } from '../../src/dashboard/series.js';
import { TaskStore } from '../../src/dashboard/tasks.js';
import { ClusterState } from '../../src/events/state.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, step: (s: number) => (t += s) };
}

describe('Series', () => {
  it('buckets counters per second, oldest first, ending with the current second', () => {
    const c = clock();
    const s = new Series({ capacity: 10, now: c.now });
    s.count('succeeded');
    s.count('succeeded');
    c.step(1);
    s.count('failed');
    c.step(2);
    s.count('succeeded', 5);
    const w = s.read(5);
    expect(w.start).toBe(1_000_000 + 3 - 4);
    expect(w.succeeded).toEqual([0, 2, 0, 0, 5]);
    expect(w.failed).toEqual([0, 0, 1, 0, 0]);
  });

  it('forgets buckets older than its capacity (the ring wraps)', () => {
    const c = clock();
    const s = new Series({ capacity: 4, now: c.now });
    s.count('succeeded', 7);
    c.step(4);
    s.count('succeeded', 1);
    expect(s.read(10).succeeded).toEqual([0, 0, 0, 1]);
  });

  it('carries gauges forward between samples and averages the queue wait', () => {
    const c = clock();
    const s = new Series({ capacity: 6, now: c.now });
    s.gauge('inFlight', 3);
    s.gauge('depth:celery', 10);
    s.wait(100);
    s.wait(300);
    c.step(2);
    s.gauge('inFlight', 1);
    c.step(1);
    const w = s.read(4);
    expect(w.inFlight).toEqual([3, 3, 1, 1]);
    expect(w.depth.celery).toEqual([10, 10, 10, 10]);
    expect(w.queueWaitMs).toEqual([200, null, null, null]);
  });
});

describe('TaskStore', () => {
  const make = (maxTasks = 10_000) => {
    const c = clock();
    const series = new Series({ now: c.now });
    const store = new TaskStore(new ClusterState({ maxTasks, now: c.now }), series, maxTasks);
    return { c, series, store };
  };
  const ev = (type: string, uuid: string, at: number, extra: Record<string, unknown> = {}) => ({
    type,
    uuid,
    hostname: 'w1@h',
    timestamp: at,
    local_received: at,
    ...extra,
  });

  it('counts outcomes, tracks in-flight tasks and the queue wait from task-sent', () => {
    const { c, series, store } = make();
    const t = c.now();
    store.event(ev('task-sent', 'a', t, { name: 'x.y', args: '(1,)', kwargs: '{}' }));
    store.event(ev('task-received', 'a', t + 0.1, { name: 'x.y' }));
    store.event(ev('task-started', 'a', t + 0.25));
    store.sample();
    expect(store.totals()).toMatchObject({ inFlight: 1, tasksHeld: 1 });
    store.event(ev('task-succeeded', 'a', t + 0.5, { result: '2', runtime: 0.25 }));
    store.event(ev('task-received', 'b', t + 0.5, { name: 'x.z' }));
    store.event(ev('task-started', 'b', t + 0.6));
    store.event(ev('task-failed', 'b', t + 0.7, { exception: 'ValueError()' }));
    store.sample();
    expect(store.totals()).toMatchObject({ succeeded: 1, failed: 1, inFlight: 0, tasksHeld: 2 });
    const w = series.read(1);
    expect(w.succeeded).toEqual([1]);
    expect(w.failed).toEqual([1]);
    // a: sent → started 250 ms; b (no task-sent): received → started 100 ms.
    expect(w.queueWaitMs[0]).toBeCloseTo(175, 0);
  });

  it('filters, sorts and pages; hands each change out once', () => {
    const { c, store } = make();
    const t = c.now();
    for (let i = 0; i < 5; i++)
      store.event(ev('task-received', `t${i}`, t + i, { name: i % 2 ? 'odd' : 'even', args: `(${i},)` }));
    store.event(ev('task-succeeded', 't2', t + 9));
    expect(store.query({ name: 'even' }).total).toBe(3);
    expect(store.query({ state: 'success' }).tasks.map((x) => x.id)).toEqual(['t2']);
    expect(store.query({ q: '(3,)' }).tasks.map((x) => x.id)).toEqual(['t3']);
    expect(store.query({ since: t + 3 }).total).toBe(2);
    expect(store.query({ sort: 'received', limit: 2, offset: 1 }).tasks.map((x) => x.id)).toEqual([
      't1',
      't2',
    ]);
    expect(store.takeChanges(100).tasks.map((x) => x.id)).toEqual(['t0', 't1', 't2', 't3', 't4']);
    expect(store.takeChanges(100).tasks).toEqual([]);
  });

  it('holds at most maxTasks, the oldest first out', () => {
    const { c, store } = make(3);
    for (let i = 0; i < 5; i++) store.event(ev('task-received', `t${i}`, c.now() + i));
    expect(store.query({}).tasks.map((x) => x.id)).toEqual(['t4', 't3', 't2']);
    expect(store.get('t0')).toBeUndefined();
  });
});

describe('parsePyLiteral', () => {
  it('reads the literals saferepr writes', () => {
    expect(parsePyLiteral("(7, 'again')")).toEqual([7, 'again']);
    expect(parsePyLiteral('(1,)')).toEqual([1]);
    expect(parsePyLiteral("{'a': [1.5, None, True], 'b': {'c': \"it's\"}}")).toEqual({
      a: [1.5, null, true],
      b: { c: "it's" },
    });
    expect(parsePyLiteral('()')).toEqual([]);
  });

  it('refuses what is not exactly a literal', () => {
    expect(() => parsePyLiteral('(1, 2, ...)')).toThrow(/cut short/);
    expect(() => parsePyLiteral('<object at 0x1>')).toThrow(/not a literal/);
    expect(() => parsePyLiteral("('a\\\\b',)")).toThrow(/backslash/);
    expect(() => parsePyLiteral('(1) + 2')).toThrow(/trailing/);
  });
});

describe('dashboard helpers', () => {
  it('reads task and group ids from stored children', () => {
    const children = [
      [['a', null], null],
      [
        ['g', null],
        [
          [['b', null], null],
          [['c', null], null],
        ],
      ],
    ];
    expect(childIds(children)).toEqual(['a', 'b', 'c']);
  });

  it('reads stalls from the blocking section of a Celeriac stats reply (Python: none)', () => {
    const stats = {
      blocking: { 'by-task': { 'x.cpu': 3 }, 'by-task-detail': { 'x.cpu': { 'max-ms': 420, 'last-at': 5 } } },
    };
    expect(stallsOf('w@h', stats)).toEqual([
      { task: 'x.cpu', count: 3, maxMs: 420, lastAt: 5, worker: 'w@h' },
    ]);
    expect(stallsOf('py@h', { pool: {} })).toEqual([]);
  });
});

describe('dashboard security helpers', () => {
  it('knows loopback addresses, and refuses others without credentials', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) expect(isLoopback(a)).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.5', 'example.com']) expect(isLoopback(a)).toBe(false);
    expect(() => checkBind('0.0.0.0', {})).toThrow(
      expect.objectContaining({ code: 'E_DASHBOARD_UNPROTECTED' }),
    );
    expect(() => checkBind('0.0.0.0', { token: 'long-enough-token' })).not.toThrow();
  });

  it('validates its options with a message that names them', () => {
    expect(() => new Guard({ basicAuth: 'nopassword' })).toThrow(/basicAuth must be "user:password"/);
    expect(() => new Guard({ token: 'short' })).toThrow(/at least 8/);
    expect(() => new Guard({ token: 'long-enough-token', basicAuth: 'a:b' })).toThrow(/not both/);
  });

  it('ties the CSRF token to the identity', () => {
    const g = new Guard({});
    expect(g.csrfValid('basic:ann', g.csrfFor('basic:ann'))).toBe(true);
    expect(g.csrfValid('basic:bob', g.csrfFor('basic:ann'))).toBe(false);
    expect(g.csrfValid('anonymous', undefined)).toBe(false);
    expect(new Guard({}).csrfFor('anonymous')).not.toBe(g.csrfFor('anonymous'));
  });

  it('tells a cross-origin request by its Origin header', () => {
    const req = (headers: Record<string, string>) => ({ headers }) as never;
    expect(crossOrigin(req({ host: 'h:5555' }))).toBe(false);
    expect(crossOrigin(req({ host: 'h:5555', origin: 'http://h:5555' }))).toBe(false);
    expect(crossOrigin(req({ host: 'h:5555', origin: 'http://evil:5555' }))).toBe(true);
    expect(crossOrigin(req({ host: 'h:5555', origin: 'null' }))).toBe(true);
  });
});

describe('poolName', () => {
  it("shortens Celery's pool class paths and keeps other names", () => {
    expect(poolName('celery.concurrency.prefork:TaskPool')).toBe('prefork');
    expect(poolName('celery.concurrency.solo:TaskPool')).toBe('solo');
    expect(poolName('celeriac.pools.async')).toBe('async');
    expect(poolName('custom')).toBe('custom');
  });
});
