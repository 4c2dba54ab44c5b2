/**
 * The prefork and threads pools with real processes and threads: the hard limit kills a synchronous
 * loop, a child that exits mid-task is reported lost and replaced, recycling by memory and task count.
 * Pools are driven directly, one job at a time; completion is awaited, never slept on.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Outcome } from '../../src/task/outcome.js';
import { createLogger } from '../../src/util/log.js';
import type { Pool, PoolContext } from '../../src/worker/pools/pool.js';
import { createPreforkPool } from '../../src/worker/pools/prefork.js';
import { createThreadsPool } from '../../src/worker/pools/threads.js';
import { job } from '../conformance/pool.js';
import { app } from '../fixtures/apps/pool-limits.js';

const appModule = fileURLToPath(new URL('../fixtures/apps/pool-limits.ts', import.meta.url));
type Where = { pid: number; thread: number };
type Failure = Extract<Outcome, { kind: 'failure' }>;

const kinds = [
  { label: 'prefork', create: createPreforkPool, id: (w: Where) => w.pid },
  { label: 'threads', create: createThreadsPool, id: (w: Where) => w.thread },
] as const;

describe.each(kinds)('$label pool: limits and failures', ({ label, create, id }) => {
  const pools: Pool[] = [];
  const lines: string[] = [];
  const make = async (options: Record<string, unknown> = {}, concurrency = 1) => {
    const ctx: PoolContext = {
      app,
      concurrency,
      hostname: `${label}@test`,
      logger: createLogger('info', (l) => lines.push(l)),
      appModule,
      options,
    };
    const pool = await create(ctx);
    await pool.start();
    pools.push(pool);
    return pool;
  };
  const where = async (pool: Pool): Promise<number> => {
    const o = await pool.run(job('limits.where').job);
    expect(o.kind).toBe('success');
    return id((o as { value: Where }).value);
  };
  afterEach(async () => {
    lines.length = 0;
    await Promise.all(pools.splice(0).map((p) => p.stop()));
  });

  it('kills a child stuck in while (true) {} on the hard time limit, and replaces it', async () => {
    const pool = await make();
    const before = await where(pool);
    const o = await pool.run(job('limits.spin', [], { hard: 0.3 }).job);
    expect(o).toMatchObject({
      kind: 'failure',
      reason: 'timeout',
      exc: { exc_type: 'TimeLimitExceeded', exc_module: 'celery.exceptions' },
    });
    expect((o as Failure).runtime).toBeGreaterThanOrEqual(0.3);
    expect(pool.active).toBe(0);
    const after = await where(pool);
    expect(after).not.toBe(before);
    expect(lines.some((l) => l.includes('Hard time limit (0.3s) exceeded for limits.spin['))).toBe(true);
  });

  it('kills a child on the hard limit even when it was running its last task before recycling', async () => {
    const pool = await make({ maxTasksPerChild: 1 });
    const o = await pool.run(job('limits.spin', [], { hard: 0.3 }).job);
    expect(o).toMatchObject({ kind: 'failure', reason: 'timeout' });
    // The spinning child goes away: only its replacement is left.
    await vi.waitFor(() => expect(pool.stats().children).toHaveLength(1), { timeout: 10_000, interval: 50 });
    expect(await pool.run(job('limits.where').job)).toMatchObject({ kind: 'success' });
  });

  it('fails a task whose child calls process.exit with WorkerLostError, and replaces the child', async () => {
    const pool = await make();
    const before = await where(pool);
    const o = await pool.run(job('limits.exit', [3]).job);
    expect(o).toMatchObject({
      kind: 'failure',
      reason: 'worker-lost',
      exc: { exc_type: 'WorkerLostError', exc_module: 'celery.exceptions' },
    });
    expect((o as Failure).exc.exc_message[0]).toContain('exitcode');
    expect(await where(pool)).not.toBe(before);
    expect(pool.stats()).toMatchObject({ lost: 1 });
  });

  it('replaces a child after the task that took it over maxMemoryPerChild', async () => {
    // 150 MiB leaked and kept: over 120 MiB whether RSS (processes) or heap + external (threads) is measured.
    const pool = await make({ maxMemoryPerChild: 120 * 1024 });
    const first = await where(pool);
    const leak = await pool.run(job('limits.leak', [150]).job);
    expect(leak.kind).toBe('success');
    expect(id((leak as { value: Where }).value)).toBe(first); // the task itself completes in the old child
    expect(await where(pool)).not.toBe(first);
    expect(lines.some((l) => l.includes('exceeding the memory limit'))).toBe(true);
  });

  it('replaces a child after maxTasksPerChild tasks', async () => {
    const pool = await make({ maxTasksPerChild: 2 });
    const ids = [await where(pool), await where(pool), await where(pool), await where(pool)];
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[1]);
    expect(ids[2]).toBe(ids[3]);
  });

  it('runs several async tasks at once in one child with childConcurrency', async () => {
    const pool = await make({ childConcurrency: 3 }, 1);
    expect(pool.concurrency).toBe(3);
    const runs = [1, 2, 3].map(() => pool.run(job('limits.sleep', [100]).job));
    expect(pool.active).toBe(3);
    expect(await Promise.all(runs)).toMatchObject([{ value: 100 }, { value: 100 }, { value: 100 }]);
    expect(pool.stats()).toMatchObject({ children: [{ tasks: 3 }] });
  });
});

describe('child pool options', () => {
  const ctx = (options: Record<string, unknown>, appModule: string | null = 'x.ts'): PoolContext => ({
    app,
    concurrency: 1,
    hostname: 'h',
    logger: createLogger('error'),
    ...(appModule ? { appModule } : {}),
    options,
  });

  it('are validated with the option named and a fix suggested', () => {
    expect(() => createPreforkPool(ctx({ maxTaskPerChild: 3 }))).toThrow(
      'Unknown pool option "maxTaskPerChild" (did you mean "maxTasksPerChild"?)',
    );
    expect(() => createThreadsPool(ctx({ maxMemoryPerChild: -1 }))).toThrow(
      'maxMemoryPerChild must be a positive integer or null, got -1',
    );
    expect(() => createPreforkPool(ctx({ childConcurrency: 0 }))).toThrow(
      'childConcurrency must be a positive integer, got 0',
    );
    expect(() => createPreforkPool(ctx({}, null))).toThrow(/needs its module: start the worker with -A/);
  });

  it('a child that cannot load the app fails start() with the cause', async () => {
    const missing = fileURLToPath(new URL('../fixtures/apps/no-such-app.ts', import.meta.url));
    await expect(createPreforkPool({ ...ctx({}), appModule: missing }).start()).rejects.toThrow(
      /the prefork pool could not start: Cannot load the app: no file/,
    );
  });
});
