/**
 * Delays of 2^31 ms (~24.9 days) or more: Node fires a plain setTimeout of that length after 1 ms, so a
 * 30-day time limit failed every task at once (issue 17, defect 1). setLongTimeout waits such delays in
 * steps; the limits, result waits, drains and beat sleeps use it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { currentTask } from '../../src/index.js';
import { setLongTimeout } from '../../src/util/long-timeout.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

const DAY = 86_400_000;

describe('setLongTimeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires a 30-day delay after 30 days, not after 1 ms or at the 2^31 ms step', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const fn = vi.fn();
    setLongTimeout(fn, 30 * DAY);
    vi.advanceTimersByTime(1);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(2 ** 31); // past the largest single timer Node keeps
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(30 * DAY - 2 ** 31 - 2);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('can be cleared in any step; a short delay is one plain timer', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const long = vi.fn();
    const t = setLongTimeout(long, 60 * DAY);
    vi.advanceTimersByTime(40 * DAY);
    t.clear();
    vi.advanceTimersByTime(30 * DAY);
    expect(long).not.toHaveBeenCalled();
    const short = vi.fn();
    setLongTimeout(short, 10);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10);
    expect(short).toHaveBeenCalledTimes(1);
  });
});

describe('time limits of weeks', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('a 30-day hard and soft limit neither fails the task nor aborts its signal', async () => {
    t = memoryApp();
    const task = t.app.task(
      'long.limits',
      async () => {
        await new Promise((r) => setTimeout(r, 20));
        return currentTask().signal.aborted;
      },
      { timeLimit: 30 * 86_400, softTimeLimit: 29 * 86_400 },
    );
    await t.startWorker();
    expect(await (await task.delay()).get({ timeout: 5 })).toBe(false);
  });

  it('a worker-wide --time-limit of 30 days too', async () => {
    t = memoryApp();
    const task = t.app.task('long.worker', async () => {
      await new Promise((r) => setTimeout(r, 20)); // longer than the 1 ms a plain timer would give
      return 'ran';
    });
    await t.startWorker({ timeLimit: 2_592_000, softTimeLimit: 2_592_000 });
    expect(await (await task.delay()).get({ timeout: 5 })).toBe('ran');
  });
});
