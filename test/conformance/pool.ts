/**
 * The pool conformance suite: every Pool (async, solo, prefork, threads) runs it. Tasks come from
 * test/fixtures/apps/pool-tasks.ts, which a pool may load in another process or thread.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTaskMessage, parseTaskMessage, type TaskRequest } from '../../src/protocol/message.js';
import type { Outcome } from '../../src/task/outcome.js';
import { createLogger } from '../../src/util/log.js';
import type { Job, Pool, PoolContext } from '../../src/worker/pools/pool.js';
import { app } from '../fixtures/apps/pool-tasks.js';

export const poolTasksModule = fileURLToPath(new URL('../fixtures/apps/pool-tasks.ts', import.meta.url));

let seq = 0;
export function request(name: string, args: unknown[] = []): TaskRequest {
  const id = `pool-${process.pid}-${++seq}`;
  const msg = buildTaskMessage({ id, name, args, kwargs: {}, origin: 'test', replyTo: 'r', now: new Date() });
  const parsed = parseTaskMessage(msg, ['json']);
  if (!parsed.ok) throw parsed.error;
  return parsed.request;
}

export function job(name: string, args: unknown[] = [], limits: { hard?: number; soft?: number } = {}) {
  const events = { started: 0, states: [] as Array<[string, unknown]> };
  const j: Job = {
    request: request(name, args),
    hardLimit: limits.hard ?? null,
    softLimit: limits.soft ?? null,
    onStart: () => {
      events.started++;
    },
    updateState: async (state, meta) => {
      events.states.push([state, meta]);
    },
  };
  return { job: j, events };
}

export function poolConformance(
  label: string,
  create: (ctx: PoolContext) => Pool | Promise<Pool>,
  /** `concurrency`: the size to test with. What the pool supports comes from the pool itself (`resizable`). */
  opts: { concurrency?: number } = {},
): void {
  describe(`pool conformance: ${label}`, () => {
    const pools: Pool[] = [];
    const make = async (concurrency = opts.concurrency ?? 2) => {
      const pool = await create({
        app,
        concurrency,
        hostname: 'conformance@test',
        logger: createLogger('error'),
        appModule: poolTasksModule,
        options: {},
      });
      await pool.start();
      pools.push(pool);
      return pool;
    };
    afterEach(async () => {
      await Promise.all(pools.splice(0).map((p) => p.stop()));
    });

    it('runs a task and reports success with its value and runtime', async () => {
      const pool = await make();
      const { job: j, events } = job('pool.add', [2, 3]);
      const o = await pool.run(j);
      expect(o).toMatchObject({ kind: 'success', value: 5 });
      expect((o as { runtime: number }).runtime).toBeGreaterThanOrEqual(0);
      expect(events.started).toBe(1);
    });

    it('reports a thrown error as a failure with its type and message', async () => {
      const pool = await make();
      const o = await pool.run(job('pool.fail', ['bad input']).job);
      expect(o.kind).toBe('failure');
      const f = o as Extract<Outcome, { kind: 'failure' }>;
      expect(f.exc).toEqual({ exc_type: 'TypeError', exc_message: ['bad input'], exc_module: 'builtins' });
      expect(f.traceback).toContain('bad input');
    });

    it('gives the task its context and carries retries and custom states', async () => {
      const pool = await make();
      const j = job('pool.context');
      expect(await pool.run(j.job)).toMatchObject({
        kind: 'success',
        value: { id: j.job.request.id, name: 'pool.context', retries: 0 },
      });
      const r = await pool.run(job('pool.retry').job);
      expect(r).toMatchObject({ kind: 'retry', exc: { exc_type: 'Error', exc_message: ['again'] } });
      const p = job('pool.progress');
      expect(await pool.run(p.job)).toMatchObject({ kind: 'success', value: 'ok' });
      expect(p.events.states).toEqual([['PROGRESS', { done: 1 }]]);
    });

    it('counts running jobs up to its concurrency', async () => {
      const n = opts.concurrency ?? 2;
      const pool = await make(n);
      expect(pool.concurrency).toBe(n);
      const runs = Array.from({ length: n }, () => pool.run(job('pool.sleep', [50]).job));
      expect(pool.active).toBe(n);
      expect(await Promise.all(runs)).toMatchObject(runs.map(() => ({ kind: 'success', value: 50 })));
      expect(pool.active).toBe(0);
    });

    it('aborts the signal on the soft time limit', async () => {
      const pool = await make();
      const o = await pool.run(job('pool.wait-for-abort', [], { soft: 0.05 }).job);
      expect(o).toMatchObject({
        kind: 'failure',
        exc: { exc_type: 'SoftTimeLimitExceeded', exc_module: 'celery.exceptions' },
      });
    });

    it('fails a task on the hard time limit and frees its slot', async () => {
      const pool = await make(1);
      const o = await pool.run(job('pool.forever', [], { hard: 0.1 }).job);
      expect(o).toMatchObject({ kind: 'failure', reason: 'timeout', exc: { exc_type: 'TimeLimitExceeded' } });
      expect(pool.active).toBe(0);
      expect(await pool.run(job('pool.add', [1, 1]).job)).toMatchObject({ kind: 'success', value: 2 });
    });

    it('grows and shrinks', async (ctx) => {
      const pool = await make(2);
      ctx.skip(pool.resizable === false, `${label}: resizable is false`);
      pool.grow(1);
      expect(pool.concurrency).toBe(3);
      pool.shrink(2);
      expect(pool.concurrency).toBe(1);
      expect(await pool.run(job('pool.add', [1, 2]).job)).toMatchObject({ value: 3 });
    });

    it('keeps its size through grow and shrink when it is not resizable', async (ctx) => {
      const pool = await make();
      ctx.skip(pool.resizable !== false, `${label}: resizable`);
      const size = pool.concurrency;
      pool.grow(2);
      pool.shrink(1);
      expect(pool.concurrency).toBe(size);
    });
  });
}
