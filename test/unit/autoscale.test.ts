// Autoscaler on a hand-driven clock, against the real async pool (and a tiny in-test pool for growStep):
// grows at once to the load, caps at max, shrinks to the load only after keepalive, stops cleanly.
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import { type AutoscaleOptions, Autoscaler } from '../../src/worker/autoscale.js';
import { AsyncPool } from '../../src/worker/pools/async.js';
import type { Pool, PoolStats } from '../../src/worker/pools/pool.js';
import { job } from '../conformance/pool.js';
import { ManualClock } from '../helpers/clock.js';
import { uniq } from '../helpers/services.js';

const app = new Celeriac({ broker: `memory://${uniq('as')}`, backend: `memory://${uniq('as')}` });
const release: Array<() => void> = [];
app.task('as.hold', () => new Promise<void>((r) => release.push(r)));
afterEach(() => {
  for (const r of release.splice(0)) r();
});

function setup(options: AutoscaleOptions, pool?: Pool) {
  const clock = new ManualClock();
  const p =
    pool ??
    new AsyncPool({
      app,
      concurrency: options.min,
      hostname: 'as@test',
      logger: createLogger('error'),
      options: {},
    });
  const load = { waiting: 0 };
  const lines: string[] = [];
  let resized = 0;
  const scaler = new Autoscaler({
    pool: p,
    waiting: () => load.waiting,
    options,
    logger: createLogger('info', (l) => lines.push(l)),
    onResize: () => resized++,
    clock,
  });
  return { clock, pool: p, load, lines, scaler, resized: () => resized };
}

describe('Autoscaler', () => {
  it('checks every intervalMs once started, and grows at once to the load', () => {
    const s = setup({ min: 2, max: 8, intervalMs: 1000, keepaliveMs: 30_000 });
    s.scaler.start();
    expect(s.clock.delays).toEqual([1000]);
    s.load.waiting = 5;
    s.clock.advance(999);
    expect(s.pool.concurrency).toBe(2);
    s.clock.advance(1);
    expect(s.pool.concurrency).toBe(5);
    expect(s.scaler.units).toBe(5);
    expect(s.resized()).toBe(1);
    expect(s.lines.some((l) => l.includes('autoscale: async 2 -> 5 (load 5)'))).toBe(true);
    s.clock.advance(1000); // same load: nothing to do
    expect(s.pool.concurrency).toBe(5);
    expect(s.resized()).toBe(1);
    s.scaler.stop();
  });

  it('counts running jobs as load, and never grows past max', async () => {
    const s = setup({ min: 2, max: 6, intervalMs: 1000 });
    s.scaler.start();
    const runs = [s.pool.run(job('as.hold').job), s.pool.run(job('as.hold').job)];
    expect(s.pool.active).toBe(2);
    s.load.waiting = 3;
    s.clock.advance(1000);
    expect(s.pool.concurrency).toBe(5); // 2 running + 3 waiting
    s.load.waiting = 100;
    s.clock.advance(1000);
    expect(s.pool.concurrency).toBe(6);
    expect(s.scaler.stats()).toEqual({ max: 6, min: 2, qty: 6 });
    s.scaler.stop();
    for (const r of release.splice(0)) r();
    expect(await Promise.all(runs)).toMatchObject([{ kind: 'success' }, { kind: 'success' }]);
  });

  it('shrinks to the load only after keepaliveMs without growth, and never below min', () => {
    const s = setup({ min: 2, max: 8, intervalMs: 1000, keepaliveMs: 10_000 });
    s.scaler.start();
    s.load.waiting = 8;
    s.clock.advance(1000); // grows at t0+1 s
    expect(s.pool.concurrency).toBe(8);
    s.load.waiting = 3;
    s.clock.advance(8000); // t0+9 s: 8 s since growing
    expect(s.pool.concurrency).toBe(8);
    s.clock.advance(1000); // t0+10 s: 9 s
    expect(s.pool.concurrency).toBe(8);
    s.clock.advance(1000); // t0+11 s: keepalive reached
    expect(s.pool.concurrency).toBe(3);
    s.load.waiting = 0;
    s.clock.advance(1000);
    expect(s.pool.concurrency).toBe(2); // min, not 0
    expect(s.resized()).toBe(1); // shrinking does not hand out slots
    s.scaler.stop();
  });

  it('restarts the keepalive on each growth', () => {
    const s = setup({ min: 1, max: 8, intervalMs: 1000, keepaliveMs: 5000 });
    s.scaler.start();
    s.load.waiting = 4;
    s.clock.advance(1000); // grow to 4
    s.clock.advance(3000);
    s.load.waiting = 6;
    s.clock.advance(1000); // grow to 6 at t0+5 s: keepalive counts from here
    s.load.waiting = 0;
    s.clock.advance(4000);
    expect(s.pool.concurrency).toBe(6);
    s.clock.advance(1000);
    expect(s.pool.concurrency).toBe(1);
    s.scaler.stop();
  });

  it('does not shrink during the keepalive after start, even with no load', () => {
    const s = setup({ min: 1, max: 4, intervalMs: 1000, keepaliveMs: 5000 });
    s.pool.grow(3); // e.g. resized by hand before the scaler started
    s.scaler.start();
    s.clock.advance(4000);
    expect(s.pool.concurrency).toBe(4);
    s.clock.advance(1000);
    expect(s.pool.concurrency).toBe(1);
    s.scaler.stop();
  });

  it('works in units of growStep (children of childConcurrency slots)', () => {
    // A pool whose grow(1) adds a child of 4 slots, as prefork/threads with childConcurrency 4.
    let children = 1;
    const stepped: Pool = {
      implementation: 'stepped',
      growStep: 4,
      get concurrency() {
        return children * 4;
      },
      active: 0,
      start: async () => {},
      run: async () => ({ kind: 'success', value: null, runtime: 0 }),
      grow: (n) => {
        children += n;
      },
      shrink: (n) => {
        children = Math.max(1, children - n);
      },
      terminateAll: () => {},
      stop: async () => {},
      stats: (): PoolStats => ({ implementation: 'stepped', 'max-concurrency': children * 4, processes: [] }),
    };
    const s = setup({ min: 1, max: 3, intervalMs: 1000, keepaliveMs: 1000 }, stepped);
    s.scaler.start();
    s.load.waiting = 5; // needs ceil(5 / 4) = 2 children
    s.clock.advance(1000);
    expect(children).toBe(2);
    expect(s.scaler.units).toBe(2);
    s.load.waiting = 50;
    s.clock.advance(1000);
    expect(children).toBe(3);
    s.load.waiting = 0;
    s.clock.advance(1000);
    expect(children).toBe(1);
    s.scaler.stop();
  });

  it('stop clears its timer: no more checks', () => {
    const s = setup({ min: 1, max: 4, intervalMs: 1000 });
    s.scaler.start();
    expect(s.clock.pending).toBe(1);
    s.scaler.stop();
    expect(s.clock.pending).toBe(0);
    s.load.waiting = 4;
    s.clock.advance(10_000);
    expect(s.pool.concurrency).toBe(1);
  });

  it('validates its options in the constructor', () => {
    expect(() => setup({ min: 3, max: 2 })).toThrow('1 <= min <= max');
  });
});
