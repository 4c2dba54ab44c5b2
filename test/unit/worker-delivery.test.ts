import { afterEach, describe, expect, it } from 'vitest';
import { currentTask, TaskError } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { waitUntil } from '../helpers/services.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
}

describe('ETA, countdown and expiry', () => {
  it('holds countdown tasks until due without using the prefetch window', async () => {
    t = memoryApp();
    const ran: Array<[string, number]> = [];
    const task = t.app.task('t.mark', (tag: string) => {
      ran.push([tag, Date.now()]);
      return tag;
    });
    // prefetch = 1 × 1: if held ETA messages counted, the plain task could not be fetched.
    await t.startWorker({ concurrency: 1, prefetchMultiplier: 1 });
    const sentAt = Date.now();
    const later = await Promise.all([1, 2, 3].map((i) => task.applyAsync([`eta${i}`], { countdown: 0.3 })));
    const now = await task.delay('now');
    expect(await now.get({ timeout: 5 })).toBe('now');
    expect(ran.map(([tag]) => tag)).toEqual(['now']);
    expect(await Promise.all(later.map((r) => r.get({ timeout: 5 })))).toEqual(['eta1', 'eta2', 'eta3']);
    for (const [tag, at] of ran.slice(1)) expect(at - sentAt, tag).toBeGreaterThanOrEqual(290);
  });

  it('runs a task with an absolute eta', async () => {
    t = memoryApp();
    const task = t.app.task('t.when', () => Date.now());
    await t.startWorker();
    const eta = new Date(Date.now() + 200);
    const r = await task.applyAsync([], { eta });
    expect(await r.get({ timeout: 5 })).toBeGreaterThanOrEqual(eta.getTime() - 5);
  });

  it('stores REVOKED for an expired task and does not run it', async () => {
    t = memoryApp();
    let runs = 0;
    const task = t.app.task('t.exp', () => ++runs);
    const r = await task.applyAsync([], { expires: new Date(Date.now() - 1000) });
    await t.startWorker();
    const err = (await r.get({ timeout: 5 }).catch((e: unknown) => e)) as TaskError;
    expect(err).toBeInstanceOf(TaskError);
    expect(err.excType).toBe('TaskRevokedError');
    expect(r.state).toBe('REVOKED');
    expect(runs).toBe(0);
  });
});

describe('retries', () => {
  it('retries explicitly with retries + 1 and the same id, then succeeds', async () => {
    t = memoryApp();
    const seen: number[] = [];
    const flaky = t.app.task('t.flaky', () => {
      const c = currentTask();
      seen.push(c.retries);
      if (c.retries < 2) throw c.retry({ countdown: 0.01, exc: new Error('try again') });
      return `ok after ${c.retries}`;
    });
    await t.startWorker();
    const r = await flaky.delay();
    expect(await r.get({ timeout: 5 })).toBe('ok after 2');
    expect(seen).toEqual([0, 1, 2]);
  });

  it('fails with the original error once maxRetries is used up', async () => {
    t = memoryApp();
    let calls = 0;
    const always = t.app.task(
      't.always',
      () => {
        calls++;
        throw currentTask().retry({ countdown: 0, exc: new RangeError('still broken') });
      },
      { maxRetries: 2 },
    );
    await t.startWorker();
    const err = (await (await always.delay()).get({ timeout: 5 }).catch((e: unknown) => e)) as TaskError;
    expect(err.excType).toBe('RangeError');
    expect(err.excMessage).toEqual(['still broken']);
    expect(calls).toBe(3);
  });

  it('autoretries listed errors with exponential backoff', async () => {
    t = memoryApp();
    class Flaky extends Error {
      override name = 'Flaky';
    }
    const times: number[] = [];
    const task = t.app.task(
      't.auto',
      () => {
        times.push(Date.now());
        if (times.length < 3) throw new Flaky('network');
        return times.length;
      },
      { autoretryFor: [Flaky], retryBackoff: 0.05, retryJitter: false, maxRetries: 5 },
    );
    await t.startWorker();
    expect(await (await task.delay()).get({ timeout: 5 })).toBe(3);
    // Backoff 0.05 s × 2^retries: 50 ms, then 100 ms.
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(45);
    expect((times[2] as number) - (times[1] as number)).toBeGreaterThanOrEqual(95);
  });

  it('does not retry errors that are not listed', async () => {
    t = memoryApp();
    let calls = 0;
    const task = t.app.task(
      't.noauto',
      () => {
        calls++;
        throw new TypeError('bug');
      },
      { autoretryFor: ['ConnectionError'] },
    );
    await t.startWorker();
    await expect((await task.delay()).get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TypeError' });
    expect(calls).toBe(1);
  });
});

describe('rate limits and time limits', () => {
  it('spaces tasks by their rate limit', async () => {
    t = memoryApp();
    const starts: number[] = [];
    const task = t.app.task('t.rl', () => starts.push(Date.now()), { rateLimit: '20/s' });
    await t.startWorker({ concurrency: 10 });
    const rs = await task.applyMany([[], [], [], []]);
    await Promise.all(rs.map((r) => r.get({ timeout: 5 })));
    starts.sort((a, b) => a - b);
    // 20/s: one token every 50 ms after the first.
    for (let i = 1; i < starts.length; i++)
      expect((starts[i] as number) - (starts[i - 1] as number)).toBeGreaterThanOrEqual(45);
  });

  it('aborts the signal on the soft limit and fails a stuck task on the hard limit, freeing the slot', async () => {
    t = memoryApp();
    const soft = t.app.task(
      't.soft',
      () =>
        new Promise((_, reject) => {
          const s = currentTask().signal;
          s.addEventListener('abort', () => reject(s.reason), { once: true });
        }),
      { softTimeLimit: 0.05 },
    );
    const hard = t.app.task('t.hard', () => new Promise(() => {}), { timeLimit: 0.05 });
    const quick = t.app.task('t.quick', () => 'free');
    await t.startWorker({ concurrency: 1 });
    await expect((await soft.delay()).get({ timeout: 5 })).rejects.toMatchObject({
      excType: 'SoftTimeLimitExceeded',
    });
    await expect((await hard.delay()).get({ timeout: 5 })).rejects.toMatchObject({
      excType: 'TimeLimitExceeded',
    });
    expect(await (await quick.delay()).get({ timeout: 5 })).toBe('free');
  });
});

describe('shutdown', () => {
  it('warm: finishes the running task and gives prefetched and ETA messages back', async () => {
    t = memoryApp();
    const g = gate();
    const started = gate();
    const slow = t.app.task('t.slow', async () => {
      started.open();
      await g.opened;
      return 'finished';
    });
    const other = t.app.task('t.other', () => 'other');
    const worker = await t.startWorker({ concurrency: 1, prefetchMultiplier: 4 });
    const running = await slow.delay();
    await started.opened;
    const waiting = await other.applyMany([[], [], []]);
    const scheduled = await other.applyAsync([], { countdown: 60 });
    const broker = await t.app.broker();
    await waitUntil(async () => (await broker.size('celery')) === 0, 5000, 'prefetch of all 4');
    const stopping = worker.stop();
    g.open();
    await stopping;
    expect(await running.get({ timeout: 5 })).toBe('finished');
    expect(await broker.size('celery')).toBe(4);
    // A new worker picks them up: nothing was lost.
    await t.startWorker({ concurrency: 2 });
    expect(await Promise.all(waiting.map((r) => r.get({ timeout: 5 })))).toEqual(['other', 'other', 'other']);
    // The ETA message came back too: the new worker takes it off the queue and holds it until due, so it
    // neither stays behind in the broker nor runs 60 s early.
    await waitUntil(
      async () => (await broker.size('celery')) === 0,
      5000,
      'the new worker to take the ETA message',
    );
    await scheduled.refresh();
    expect(scheduled.state).toBe('PENDING');
  });

  it('cold: requeues a running acksLate task, which then runs on the next worker', async () => {
    t = memoryApp();
    let attempt = 0;
    const started = gate();
    const job = t.app.task(
      't.late',
      async () => {
        attempt++;
        if (attempt === 1) {
          started.open();
          await new Promise(() => {}); // stuck until the cold shutdown gives it up
        }
        return `attempt ${attempt}`;
      },
      { acksLate: true },
    );
    const worker = await t.startWorker({ concurrency: 1 });
    const r = await job.delay();
    await started.opened;
    await worker.stop({ cold: true });
    const broker = await t.app.broker();
    expect(await broker.size('celery')).toBe(1);
    await t.startWorker();
    expect(await r.get({ timeout: 5 })).toBe('attempt 2');
  });
});

describe('scale', () => {
  it('runs 10,000 concurrent tasks that each await a 1 s timer on one worker', async () => {
    t = memoryApp();
    let running = 0;
    let peak = 0;
    const nap = t.app.task('t.nap', async (i: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 1000));
      running--;
      return i;
    });
    const results = await nap.applyMany(Array.from({ length: 10_000 }, (_, i) => [i]));
    await t.startWorker({ concurrency: 10_000 });
    const values = await Promise.all(results.map((r) => r.get({ timeout: 60 })));
    expect(values).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    // Far beyond any thread pool: thousands were in flight at once on one event loop.
    expect(peak).toBeGreaterThan(1000);
  }, 60_000);
});
