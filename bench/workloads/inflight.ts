/**
 * Workload 4, in-flight scale: N tasks that each await a 1 s timer, all in flight at once on one worker
 * (`-c N`). Reports the wall time from the first enqueue to the last result, the part of it after the
 * last enqueue, and the worker's peak RSS. Celeriac async against Celery eventlet (BullMQ alongside), on
 * Redis; the same two on RabbitMQ, and Celeriac on SQLite.
 */
import {
  type BenchContext,
  type Case,
  caseId,
  drive,
  selected,
  withBaseline,
  withWorker,
} from '../lib/context.js';
import { brokerOf, configLabel, type WorkerConfig } from '../lib/systems.js';

interface RunOut {
  wall: number;
  enqueue_seconds: number;
  first_done: number;
  last_done: number;
  failed: number;
}

export const inflight = {
  name: 'inflight',
  title: 'In-flight scale',
  cases(ctx: BenchContext): Case[] {
    const n = ctx.smoke ? 100 : 10_000;
    const cfgs: WorkerConfig[] = [
      { system: 'celeriac', pool: 'async', concurrency: n },
      { system: 'celery', pool: 'eventlet', concurrency: n },
      { system: 'bullmq', pool: 'async', concurrency: n },
      { system: 'celeriac', pool: 'async', concurrency: n, broker: 'amqp' },
      // 40 s a run and no goal reads it: the first repetition only (`--all-reps`: every one).
      { system: 'celery', pool: 'eventlet', concurrency: n, broker: 'amqp', once: true },
      { system: 'celeriac', pool: 'async', concurrency: n, broker: 'sqlite' },
    ];
    return withBaseline(cfgs)
      .filter((cfg) => selected(ctx, cfg))
      .map((cfg) => ({
        id: `inflight-${n}/${caseId(cfg)}`,
        label: configLabel(cfg),
        system: cfg.system,
        broker: brokerOf(cfg),
        group: `${n} × 1 s timers`,
        once: cfg.once ?? false,
        run: (c: BenchContext) => {
          const queue = c.queue('inflight');
          return withWorker(c, cfg, 'sleep1', queue, async (w, ep) => {
            w.sampler.resetPeak();
            const cpu0 = w.sampler.cpu();
            const r = await drive<RunOut>(
              cfg.system,
              ['run', '--queue', queue, '--task', 'sleep1', '--n', String(n)],
              ep,
            );
            return {
              wall_s: r.wall,
              enqueue_s: r.enqueue_seconds,
              after_enqueue_s: r.wall - r.enqueue_seconds,
              peak_rss_mb: w.sampler.peakRss() / 2 ** 20,
              cpu_s: w.sampler.cpu() - cpu0,
              failed: r.failed,
            };
          });
        },
      }));
  },
};
