/**
 * Workload 3, round-trip latency: on an idle worker, N sequential calls, each published and awaited with
 * the system's own client (Celeriac `applyAsync().get()`, Celery `apply_async().get()`, BullMQ `add` +
 * `waitUntilFinished`), after WARMUP unmeasured warm-up calls. Reports p50, p99 and mean in ms.
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
import { percentile } from '../lib/stats.js';
import { brokerOf, configLabel, type WorkerConfig } from '../lib/systems.js';

/**
 * Calls made before measuring. A Node worker and client get faster over their first ~1,500 calls, as V8
 * compiles the hot path with its optimizing tier: Celeriac's p50 per 500 calls on an idle machine went
 * 0.68, 0.64, 0.57, 0.44, 0.42, 0.40 ms (2026-12-01). With 20 warm-up calls the row measured that
 * start-up for both Node systems, not the steady state a long-running service serves at. Same for all.
 */
const WARMUP = 2000;

function configs(): WorkerConfig[] {
  return [
    { system: 'celeriac', pool: 'async', concurrency: 100 },
    { system: 'celeriac', pool: 'solo', concurrency: 1 },
    { system: 'celery', pool: 'prefork', concurrency: 2 },
    { system: 'celery', pool: 'eventlet', concurrency: 1000 },
    { system: 'bullmq', pool: 'async', concurrency: 1 },
    // Off Redis, one configuration per system: latency is the client's and the broker's, not the pool's.
    { system: 'celeriac', pool: 'async', concurrency: 100, broker: 'amqp' },
    { system: 'celery', pool: 'prefork', concurrency: 2, broker: 'amqp' },
    { system: 'celeriac', pool: 'async', concurrency: 100, broker: 'sqlite' },
  ];
}

export const roundtrip = {
  name: 'roundtrip',
  title: 'Round-trip latency',
  cases(ctx: BenchContext): Case[] {
    const n = ctx.smoke ? 20 : 500;
    const warmup = ctx.smoke ? 20 : WARMUP;
    return withBaseline(configs())
      .filter((cfg) => selected(ctx, cfg))
      .map((cfg) => ({
        id: `roundtrip-${n}/${caseId(cfg)}`,
        label: configLabel(cfg),
        system: cfg.system,
        broker: brokerOf(cfg),
        group: `${n} sequential calls`,
        once: cfg.once ?? false,
        run: (c: BenchContext) => {
          const queue = c.queue('rt');
          return withWorker(c, cfg, 'noop', queue, async (_w, ep) => {
            const r = await drive<{ latencies_ms: number[] }>(
              cfg.system,
              ['roundtrip', '--queue', queue, '--n', String(n), '--warmup', String(warmup)],
              ep,
            );
            const l = r.latencies_ms;
            return {
              p50_ms: percentile(l, 50),
              p99_ms: percentile(l, 99),
              mean_ms: l.reduce((a, b) => a + b, 0) / l.length,
            };
          });
        },
      }));
  },
};
