/**
 * Pools inside a real worker (memory broker and backend, real child processes): mixed-pool routing,
 * limits and worker-lost handling through the dispatcher, autoscale up and down, and the event-loop
 * blocking warning. Each test consumes its own queues; completion is awaited on results or conditions.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { TaskError } from '../../src/errors.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker, WorkerOptions } from '../../src/worker/worker.js';
import { app } from '../fixtures/apps/pool-limits.js';
import { uniq } from '../helpers/services.js';

const appModule = fileURLToPath(new URL('../fixtures/apps/pool-limits.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'celeriac-pools-'));
type Where = { pid: number; thread: number };

const workers: Worker[] = [];
const lines: string[] = [];
async function startWorker(options: WorkerOptions): Promise<Worker> {
  const w = app.worker({
    appModule,
    logger: createLogger('info', (l) => lines.push(l)),
    shutdownTimeout: 5,
    ...options,
  });
  workers.push(w);
  await w.start();
  return w;
}
const send = (name: string, args: unknown[], queue: string, options: Record<string, unknown> = {}) =>
  app.sendTask(name, args, {}, { queue, ...options });

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  lines.length = 0;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mixed pools in one worker', () => {
  it('runs { pool: "cpu" } tasks and CPU-queue tasks in a child, the rest on the event loop', async () => {
    const q = uniq('mixed');
    const cpuQ = uniq('mixed-cpu');
    const w = await startWorker({
      pool: 'async',
      concurrency: 10,
      queues: [q],
      cpuPool: 'prefork:1',
      cpuQueues: [cpuQ],
    });
    expect(w.queues).toEqual([q, cpuQ]);
    const [cpu, io, byQueue] = await Promise.all([
      send('mixed.cpu', [], q),
      send('mixed.io', [], q),
      send('limits.where', [], cpuQ),
    ]);
    const child = (w.stats().cpu_pool as { processes: number[] }).processes[0];
    expect(await cpu.get({ timeout: 20 })).toBe(child);
    expect(child).not.toBe(process.pid);
    expect(await io.get({ timeout: 20 })).toBe(process.pid);
    expect(((await byQueue.get({ timeout: 20 })) as Where).pid).toBe(child);
    expect(w.stats()).toMatchObject({ pool: { implementation: 'celeriac.pools.async' } });
  });

  it('applies the hard time limit to a CPU-pool task and keeps serving', async () => {
    const q = uniq('mixed-limit');
    await startWorker({ pool: 'async', queues: [q], cpuPool: 'prefork:1', cpuQueues: [q] });
    const spin = await send('limits.spin', [], q, { timeLimit: 0.5 });
    const err = await spin.get({ timeout: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ excType: 'TimeLimitExceeded', excModule: 'celery.exceptions' });
    expect(await (await send('mixed.cpu', [], q)).get({ timeout: 20 })).not.toBe(process.pid);
  });
});

describe('prefork worker', () => {
  it('requeues the task of a child that died when acksLate and rejectOnWorkerLost', async () => {
    const q = uniq('lost');
    const marker = join(dir, `${q}.marker`);
    await startWorker({ pool: 'prefork', concurrency: 1, queues: [q] });
    const r = await send('limits.exit-once', [marker], q);
    expect(await r.get({ timeout: 30 })).toBe('second run');
    expect(existsSync(marker)).toBe(true);
    expect(lines.some((l) => /process \d+ running limits\.exit-once\[.+\] exited prematurely/.test(l))).toBe(
      true,
    );
  });

  it('autoscales up with the load and back down to the minimum', async () => {
    const q = uniq('scale');
    const latch = join(dir, `${q}.go`);
    const w = await startWorker({
      pool: 'prefork',
      queues: [q],
      autoscale: { max: 3, min: 1, intervalMs: 50, keepaliveMs: 0 },
    });
    const pool = () => w.stats().pool as { 'max-concurrency': number; children: Array<{ active: number }> };
    expect(pool()['max-concurrency']).toBe(1);
    const results = await Promise.all([1, 2, 3].map(() => send('limits.latch', [latch], q)));
    // Three tasks held open: three children, each running one.
    await vi.waitFor(
      () => {
        expect(pool().children.map((c) => c.active)).toEqual([1, 1, 1]);
      },
      { timeout: 30_000, interval: 50 },
    );
    expect(pool()['max-concurrency']).toBe(3);
    writeFileSync(latch, '');
    const pids = (await Promise.all(results.map((r) => r.get({ timeout: 20 })))).map((x) => (x as Where).pid);
    expect(new Set(pids).size).toBe(3);
    await vi.waitFor(
      () => {
        expect(pool()['max-concurrency']).toBe(1);
        expect(pool().children).toHaveLength(1);
      },
      { timeout: 30_000, interval: 50 },
    );
    expect(w.stats().autoscaler).toEqual([{ max: 3, min: 1, qty: 1 }]);
  });
});

describe('event-loop blocking detection', () => {
  it('warns naming the task that blocked the loop, and counts it per task name', async () => {
    const q = uniq('block');
    const w = await startWorker({ pool: 'async', queues: [q], blockingThreshold: 50 });
    const sleeper = await send('limits.sleep', [400], q);
    const blocker = await send('limits.block', [250], q);
    expect(await blocker.get({ timeout: 20 })).toBe(250);
    expect(await sleeper.get({ timeout: 20 })).toBe(400);
    // Found by the task id: a busy machine may add stalls of its own, blamed on whatever ran then.
    const named = () =>
      lines.find((l) => l.includes('Event loop blocked') && l.includes(`limits.block[${blocker.id}]`));
    await vi.waitFor(() => expect(named()).toBeDefined());
    const warning = named() as string;
    expect(warning).toMatch(
      /WARNING\/MainProcess\] Event loop blocked for \d+ ms \((only )?\d+ ms on CPU[^)]*\) by limits\.block\[/,
    );
    expect(warning).toContain("{ pool: 'cpu' }");
    // The task sleeping on I/O at the same time is not blamed: the blocker computed from its first line.
    expect(warning).not.toContain('limits.sleep');
    const stats = w.stats().blocking as { 'threshold-ms': number; 'by-task': Record<string, number> };
    expect(stats['threshold-ms']).toBe(50);
    expect(stats['by-task']['limits.block']).toBe(1);
  });

  it('reports many short tasks run back to back as saturation, blaming none of them', async () => {
    const q = uniq('burst');
    const w = await startWorker({ pool: 'async', queues: [q], concurrency: 100, blockingThreshold: 50 });
    const at = Date.now() + 1500;
    const burst = await Promise.all(Array.from({ length: 40 }, () => send('limits.burst', [at, 6], q)));
    await Promise.all(burst.map((r) => r.get({ timeout: 20 })));
    await vi.waitFor(() =>
      expect(lines.some((l) => l.includes('tasks ran or started back to back, none for long'))).toBe(true),
    );
    const stats = w.stats().blocking as { saturated: number; 'by-task': Record<string, number> };
    expect(stats.saturated).toBeGreaterThanOrEqual(1);
    expect(stats['by-task']['limits.burst']).toBeUndefined();
  });

  it('does not warn about CPU-pool tasks: they block a child, not the loop', async () => {
    const q = uniq('block-cpu');
    const w = await startWorker({
      pool: 'async',
      queues: [q],
      cpuPool: 'prefork:1',
      cpuQueues: [q],
      blockingThreshold: 50,
    });
    expect(await (await send('limits.block', [250], q)).get({ timeout: 20 })).toBe(250);
    expect(w.stats().blocking).toMatchObject({ 'by-task': {} });
  });
});
