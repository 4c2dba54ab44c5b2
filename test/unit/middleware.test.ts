/**
 * The middleware contract as a user sees it: options a middleware declares are accepted (and misspelt
 * ones fail with a did-you-mean), hooks run in the documented order, a throwing hook is contained, and
 * each worker gets its own hooks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Middleware, WorkerMiddleware } from '../../src/index.js';
import { ConfigError } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { waitUntil } from '../helpers/services.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

describe('task options declared by middleware', () => {
  it('accepts the options a middleware owns and fails a misspelt one with a did-you-mean', () => {
    t = memoryApp({ middleware: [{ name: 'audit', taskOptions: ['auditTag'] }] });
    expect(() => t.app.task('mw.ok', () => 1, { auditTag: 'x' } as never)).not.toThrow();
    expect(() => t.app.task('mw.typo', () => 1, { auditTga: 'x' } as never)).toThrow(
      'Unknown option of task "mw.typo" "auditTga" (did you mean "auditTag"?)',
    );
  });

  it('fails a misspelt built-in option with the built-in middleware that owns it as the suggestion', () => {
    t = memoryApp();
    expect(() => t.app.task('mw.rate', () => 1, { rateLimt: '1/s' } as never)).toThrow(
      /did you mean "rateLimit"/,
    );
    expect(() => t.app.task('mw.late', () => 1, { acksLat: true } as never)).toThrow(
      /did you mean "acksLate"/,
    );
  });

  it('checks option values at definition', () => {
    t = memoryApp();
    expect(() => t.app.task('mw.badrate', () => 1, { rateLimit: 'fast' })).toThrow(ConfigError);
    expect(() => t.app.task('mw.badlimit', () => 1, { timeLimit: -1 })).toThrow(
      'task "mw.badlimit": timeLimit must be a number of seconds > 0 or null, got -1',
    );
    expect(() => t.app.task('mw.badretries', () => 1, { maxRetries: -2 })).toThrow(
      /maxRetries must be a number >= 0/,
    );
  });

  it('refuses a middleware without a name, or with a name in use', () => {
    t = memoryApp();
    expect(() => t.app.use({ name: '' })).toThrow(ConfigError);
    expect(() => t.app.use({ name: 'results' })).toThrow('a middleware named "results" is already in use');
  });
});

describe('hooks', () => {
  it('runs one task through the hooks in the documented order', async () => {
    t = memoryApp();
    const calls: string[] = [];
    const hooks: WorkerMiddleware = {
      ready: () => void calls.push('ready'),
      received: (r) => void calls.push(`received ${r.request.name}`),
      admit: () => void calls.push('admit'),
      beforeStart: (r) => void calls.push(`beforeStart hard=${r.hardLimit}`),
      started: (r) => void calls.push(`started acked=${r.acked}`),
      launched: () => void calls.push('launched'),
      finished: () => void calls.push('finished'),
      decide: (r) => void calls.push(`decide ${r.disposition === null}`),
      settle: (r, o) => void calls.push(`settle ${o.kind} ${r.disposition?.action}`),
      settled: (_r, o) => void calls.push(`settled ${o.kind}`),
      stop: () => void calls.push('stop'),
    };
    const mw: Middleware = {
      name: 'recorder',
      beforeRun: (r) => void calls.push(`beforeRun ${r.request.id === r.task.name ? '' : 'ok'}`),
      afterRun: (_r, o) => void calls.push(`afterRun ${o.kind}`),
      worker: () => hooks,
    };
    t.app.use(mw);
    const task = t.app.task('mw.order', () => 'done', { timeLimit: 30 });
    const w = await t.startWorker();
    const r = await task.delay();
    expect(await r.get({ timeout: 5 })).toBe('done');
    await waitUntil(() => calls.includes('settled success'), 5000, 'settled');
    await w.stop();
    expect(calls).toEqual([
      'ready',
      'received mw.order',
      'admit',
      // The built-in time-limits middleware ran before this one (built-ins come first).
      'beforeStart hard=30',
      // acks early: the built-in acks middleware acked before this middleware's started hook.
      'started acked=true',
      'beforeRun ok',
      'launched',
      'afterRun success',
      'finished',
      // decide hooks run until one decides; the built-in acks decided first, so this one is not asked.
      'settle success ack',
      'settled success',
      'stop',
    ]);
  });

  it('contains a hook that throws: logged with the middleware and task id, the task still settles', async () => {
    t = memoryApp();
    t.app.use({
      name: 'broken',
      worker: () => ({
        received: () => {
          throw new Error('received broke');
        },
        settled: () => {
          throw new Error('settled broke');
        },
      }),
    });
    const task = t.app.task('mw.contained', (x: number) => x + 1);
    await t.startWorker();
    const r = await task.delay(1);
    expect(await r.get({ timeout: 5 })).toBe(2);
    await waitUntil(() => t.logs.some((l) => l.includes('settled broke')), 5000, 'the logged failure');
    expect(
      t.logs.some((l) =>
        l.includes(`middleware broken: received failed for task ${r.id}: Error: received broke`),
      ),
    ).toBe(true);
    expect(t.logs.some((l) => l.includes(`middleware broken: settled failed for task ${r.id}`))).toBe(true);
    expect(await (await task.delay(2)).get({ timeout: 5 })).toBe(3);
  });

  it('a settle hook that rejects requeues an acksLate task instead of losing it', async () => {
    t = memoryApp();
    let failures = 1;
    t.app.use({
      name: 'flaky-store',
      worker: () => ({
        settle: () => (failures-- > 0 ? Promise.reject(new Error('store is down')) : null),
      }),
    });
    let runs = 0;
    const task = t.app.task('mw.requeued', () => ++runs, { acksLate: true });
    await t.startWorker();
    const r = await task.delay();
    // The first run's record failed (after results stored 1), so the message went back and ran again.
    await waitUntil(() => runs === 2, 5000, 'the second run');
    await waitUntil(async () => (await r.refresh()) === 2, 5000, 'the second result');
    expect(
      t.logs.some((l) =>
        l.includes(`Task mw.requeued[${r.id}]: could not record the outcome: store is down`),
      ),
    ).toBe(true);
  });

  it('calls heartbeat every workerHeartbeatInterval seconds while the worker runs, and not after it stops', async () => {
    t = memoryApp({ workerHeartbeatInterval: 0.02 });
    let beats = 0;
    t.app.use({ name: 'beats', worker: () => ({ heartbeat: () => void beats++ }) });
    const w = await t.startWorker();
    await waitUntil(() => beats >= 3, 5000, 'three heartbeats');
    await w.stop();
    const after = beats;
    await new Promise((r) => setTimeout(r, 60)); // three intervals: a running timer would have beaten
    expect(beats).toBe(after);
  });

  it('gives each worker its own hooks (per-worker state)', async () => {
    t = memoryApp();
    const made: string[] = [];
    t.app.use({ name: 'per-worker', worker: (scope) => void made.push(scope.hostname) });
    await t.startWorker({ hostname: 'one@test', queues: ['q1'] });
    await t.startWorker({ hostname: 'two@test', queues: ['q2'] });
    expect(made).toEqual(['one@test', 'two@test']);
  });
});
