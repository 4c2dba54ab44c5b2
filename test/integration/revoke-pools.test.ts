/**
 * Pool.terminate driven directly, with real child processes and threads: a job that is not running
 * gives null; a job still waiting for a child is revoked without ever starting; with childConcurrency 2
 * the other task of the terminated child fails as lost (as on the hard time limit), and the pool serves
 * on. Completion is awaited on outcomes and pool stats, never slept on.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/util/log.js';
import { createAsyncPool } from '../../src/worker/pools/async.js';
import type { Pool, PoolContext } from '../../src/worker/pools/pool.js';
import { createPreforkPool } from '../../src/worker/pools/prefork.js';
import { createThreadsPool } from '../../src/worker/pools/threads.js';
import { job } from '../conformance/pool.js';
import { app } from '../fixtures/apps/pool-limits.js';

const appModule = fileURLToPath(new URL('../fixtures/apps/pool-limits.ts', import.meta.url));
const KILL = { num: 9, name: 'SIGKILL' };

const pools: Pool[] = [];
async function make(
  create: (ctx: PoolContext) => Pool,
  options: Record<string, unknown> = {},
  concurrency = 1,
) {
  const pool = create({
    app,
    concurrency,
    hostname: 'rv@test',
    logger: createLogger('error'),
    appModule,
    options,
  });
  await pool.start();
  pools.push(pool);
  return pool;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});

describe('async pool terminate', () => {
  it('is null for a job it is not running', async () => {
    const pool = await make(createAsyncPool);
    expect(pool.terminate?.(job('limits.where').job, KILL)).toBeNull();
    const j = job('limits.where').job;
    expect(await pool.run(j)).toMatchObject({ kind: 'success' });
    expect(pool.terminate?.(j, KILL)).toBeNull(); // finished already
  });
});

describe.each([
  { label: 'prefork', create: createPreforkPool },
  { label: 'threads', create: createThreadsPool },
])('$label pool terminate', ({ create }) => {
  it('revokes a job still waiting for a child without starting it', async () => {
    const pool = await make(create);
    const spin = job('limits.spin');
    const spinning = pool.run(spin.job);
    await vi.waitFor(() => expect(spin.events.started).toBe(1), { timeout: 10_000, interval: 20 });
    const waiting = job('limits.where');
    const queued = pool.run(waiting.job);
    expect(pool.active).toBe(2);
    const o = pool.terminate?.(waiting.job, KILL);
    expect(o).toEqual({ kind: 'revoked', expired: false, terminated: true, signum: 9, runtime: 0 });
    expect(await queued).toEqual(o);
    expect(waiting.events.started).toBe(0);
    expect(pool.active).toBe(1);
    expect(pool.terminate?.(spin.job, KILL)).toMatchObject({ kind: 'revoked', terminated: true });
    expect(await spinning).toMatchObject({ kind: 'revoked', terminated: true });
    expect(pool.active).toBe(0);
    expect(await pool.run(job('limits.where').job)).toMatchObject({ kind: 'success' });
  });

  it('with childConcurrency 2, the other task of the terminated child is lost; the pool serves on', async () => {
    const pool = await make(create, { childConcurrency: 2 });
    const a = job('limits.sleep', [60_000]);
    const b = job('limits.sleep', [60_000]);
    const ra = pool.run(a.job);
    const rb = pool.run(b.job);
    await vi.waitFor(() => expect(a.events.started + b.events.started).toBe(2), {
      timeout: 10_000,
      interval: 20,
    });
    expect(pool.terminate?.(a.job, KILL)).toMatchObject({ kind: 'revoked', terminated: true, signum: 9 });
    expect(await ra).toMatchObject({ kind: 'revoked' });
    expect(await rb).toMatchObject({
      kind: 'failure',
      reason: 'worker-lost',
      exc: { exc_type: 'WorkerLostError' },
    });
    expect(pool.stats()).toMatchObject({ terminated: 1, replaced: 1 });
    expect(await pool.run(job('limits.where').job)).toMatchObject({ kind: 'success' });
  });
});
