/**
 * Workload 2, no-op throughput: N tasks that do nothing but store a result.
 *
 * Per worker configuration and repetition:
 * 1. with no worker running, the system's own client enqueues N tasks one by one, each awaited
 *    (`enqueue_one_per_s`); once per system and repetition it also enqueues N with its batched form
 *    (`enqueue_batch_per_s`: Celeriac `applyMany`, BullMQ `addBulk`, 1000 per call; Celery has none) into
 *    a scratch queue that is purged; a `loadBatched` row (Celeriac solo on RabbitMQ, whose client's
 *    confirmed one-by-one rate the async row measures) loads its queue batched and has no one-by-one rate;
 * 2. the worker starts on the loaded queue and drains it; the drain rate is read from the result
 *    backend's own completion times, (N - 1) / (last done - first done), so worker start-up is not counted;
 *    worker CPU, the Redis server's and the peak RSS are taken from ready to the last result, and per task
 *    over all the tasks run, warm-up included (a slightly higher figure than the steady state's).
 *
 * Warm-up: for the Node systems the queue holds WARMUP more tasks ahead of the N measured (loaded with the
 * batched form, not counted), so the N run at the worker's steady speed. A Node worker speeds up over its
 * first ~15,000 tasks as V8 optimizes the hot path: sampled every 200 ms, Celeriac async -c100 took 11,000,
 * 23,000, 33,000, then 40,000 tasks/s (2026-12-01). Without it, a 20,000-task drain that lasts ~1 s on a
 * fast machine measured mostly that start-up. Celery gets none: CPython has no optimizing JIT to wait for,
 * and its drains (150-2,000/s) would take minutes more per run.
 *
 * Celeriac async -c100 also runs with `--task-events` (-E), whose drain rate against the row without it
 * is the price of task events.
 * Celeriac async -c100 also runs with tracing and metrics on (`--tracing --metrics-port 0`), for their cost.
 * Celeriac `--processes 2` of -c50 each (100 in flight, as BullMQ c=100) is issue 19's one worker command
 * on both cores.
 * On RabbitMQ and SQLite, the configurations that answer "what does the broker cost": Celeriac async
 * -c100 and solo, Celery prefork -c2 and solo (its fastest drains on Redis; eventlet drains at ~150/s,
 * two minutes per run, and says nothing more about the broker).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchContext,
  type Case,
  caseId,
  cleanUp,
  drive,
  endpoint,
  selected,
  withBaseline,
  withWorker,
} from '../lib/context.js';
import { redisCpuMsPer, redisCpuSeconds } from '../lib/redis-cpu.js';
import { brokerOf, configLabel, SYSTEMS, type SystemId, type WorkerConfig } from '../lib/systems.js';

interface EnqOut {
  seconds: number;
  rate: number;
}
interface WaitOut {
  first_done: number;
  last_done: number;
  failed: number;
}

/** `celeriac worker` flags of the observability row (docs/observability.md, "Cost"). */
const OBSERVABILITY = ['--tracing', '--metrics-port', '0'];

/** `loadBatched`: the queue is loaded with the batched form, and the row has no one-by-one enqueue rate. */
/** `loadPipelined`: loaded one applyAsync per task with up to 100 in flight (`enqueue_pipelined_per_s`). */
type NoopConfig = WorkerConfig & { loadBatched?: boolean; loadPipelined?: boolean };

function configs(): NoopConfig[] {
  return [
    { system: 'celeriac', pool: 'async', concurrency: 100 },
    // The same drain with task events (-E): 4 events per task, batched into task.multi (issue 13: at most
    // 15 % below the row above). Heartbeats are on in both rows, as by default.
    { system: 'celeriac', pool: 'async', concurrency: 100, extra: ['--task-events'] },
    { system: 'celeriac', pool: 'solo', concurrency: 1 },
    // Observability on (OpenTelemetry SDK with a dropping exporter, Prometheus metrics): its cost per task.
    { system: 'celeriac', pool: 'async', concurrency: 100, extra: OBSERVABILITY },
    // Issue 19: one worker command on both cores, 100 in flight in all as in the row above (skipped by a
    // build without the flag).
    { system: 'celeriac', pool: 'async', concurrency: 50, extra: ['--processes', '2'] },
    // Celery's Redis drains run at a few hundred a second (20,000 take 25 s to 2 min) and no goal reads
    // them: the first repetition only (`--all-reps` runs them every time).
    { system: 'celery', pool: 'prefork', concurrency: 2, once: true },
    { system: 'celery', pool: 'solo', concurrency: 1, once: true },
    { system: 'celery', pool: 'eventlet', concurrency: 1000, once: true },
    { system: 'bullmq', pool: 'async', concurrency: 1 },
    { system: 'bullmq', pool: 'async', concurrency: 100 },
    // Issue 19's RabbitMQ row: one applyAsync per task, confirms on, up to 100 in flight (each resolved by
    // its own confirm). Awaited strictly one at a time a persistent confirmed publish waits for RabbitMQ's
    // disk write (~160/s with amqplib alone here), which no client can beat.
    { system: 'celeriac', pool: 'async', concurrency: 100, broker: 'amqp', loadPipelined: true },
    // Loaded with applyMany: Celeriac's one-by-one rate on RabbitMQ (each publish confirmed, ~700/s before
    // issue 19: 30 s for 20,000) is the client's, measured by the row above; this row is for its drain.
    { system: 'celeriac', pool: 'solo', concurrency: 1, broker: 'amqp', loadBatched: true },
    // Every repetition: its one-by-one enqueue (no confirms) is issue 19's RabbitMQ yardstick.
    { system: 'celery', pool: 'prefork', concurrency: 2, broker: 'amqp' },
    { system: 'celery', pool: 'solo', concurrency: 1, broker: 'amqp', once: true },
    { system: 'celeriac', pool: 'async', concurrency: 100, broker: 'sqlite' },
    { system: 'celeriac', pool: 'solo', concurrency: 1, broker: 'sqlite' },
  ];
}

const WARMUP = 20_000;

export const noop = {
  name: 'noop',
  title: 'No-op throughput',
  cases(ctx: BenchContext): Case[] {
    const n = ctx.smoke ? 200 : 20_000;
    const batchDone = new Set<string>();
    return (withBaseline(configs()) as NoopConfig[])
      .filter((cfg) => selected(ctx, cfg))
      .map((cfg) => ({
        id: `noop-${n}/${caseId(cfg)}`,
        label: configLabel(cfg),
        system: cfg.system,
        broker: brokerOf(cfg),
        group: `N=${n}`,
        once: cfg.once ?? false,
        async run(c: BenchContext) {
          const sys: SystemId = cfg.system;
          const broker = brokerOf(cfg);
          const metrics: Record<string, number> = {};
          // The batched enqueue rate belongs to the client and the broker: once per pair and repetition.
          const key = `${sys}/${broker}/${c.rep}`;
          if (SYSTEMS[sys].batch && !batchDone.has(key)) {
            batchDone.add(key);
            const scratch = endpoint(c, broker, c.queue('noopbatch'));
            try {
              const args = ['enqueue', '--queue', scratch.queue, '--n', String(n), '--mode', 'batch'];
              metrics.enqueue_batch_per_s = (await drive<EnqOut>(sys, args, scratch)).rate;
            } finally {
              await cleanUp(c, sys, scratch);
            }
          }
          const queue = c.queue('noop');
          const ids = join(c.tmp, `${queue}.ids.json`);
          // Loaded before the worker starts; from here withWorker (which finds the same endpoint from the
          // queue name) purges and removes it whatever happens.
          const ep0 = endpoint(c, broker, queue);
          const warmup = sys === 'celery' || c.smoke ? 0 : WARMUP;
          if (warmup) {
            const wmode = SYSTEMS[sys].batch ? 'batch' : 'one';
            const args = ['enqueue', '--queue', queue, '--n', String(warmup), '--mode', wmode];
            await drive<EnqOut>(sys, args, ep0).catch(async (err: Error) => {
              await cleanUp(c, sys, ep0);
              throw err;
            });
          }
          const mode =
            cfg.loadBatched && SYSTEMS[sys].batch ? 'batch' : cfg.loadPipelined ? 'pipelined' : 'one';
          const e = await drive<EnqOut>(
            sys,
            ['enqueue', '--queue', queue, '--n', String(n), '--mode', mode, '--ids-out', ids],
            ep0,
          ).catch(async (err: Error) => {
            await cleanUp(c, sys, ep0);
            throw err;
          });
          if (mode === 'one') metrics.enqueue_one_per_s = e.rate;
          if (mode === 'pipelined') metrics.enqueue_pipelined_per_s = e.rate;
          return withWorker(c, cfg, 'noop', queue, async (w, ep) => {
            w.sampler.resetPeak();
            const redis0 = ep.broker === 'sqlite' ? null : await redisCpuSeconds(c.redisUrl);
            const cpu0 = w.sampler.cpu();
            const r = await drive<WaitOut>(
              sys,
              [
                'wait',
                '--queue',
                queue,
                '--n',
                String(n),
                '--ids',
                ids,
                ...(warmup ? ['--after', String(warmup)] : []),
              ],
              ep,
            );
            const cpu = w.sampler.cpu() - cpu0;
            // Over the warm-up too: the window cannot start at its end, which a wait on the warm-up's results
            // would notice late, and polling them meanwhile would load the broker during the measured drain.
            // The measured tasks follow the warm-up in the queue, so their last result comes after its.
            const all = n + warmup;
            const redis =
              redis0 === null ? undefined : redisCpuMsPer(redis0, await redisCpuSeconds(c.redisUrl), all);
            rmSync(ids, { force: true });
            return {
              ...metrics,
              drain_per_s: (n - 1) / (r.last_done - r.first_done),
              cpu_ms_per_task: (cpu * 1000) / all,
              ...(redis === undefined ? {} : { redis_cpu_ms_per_task: redis }),
              peak_rss_mb: w.sampler.peakRss() / 2 ** 20,
              failed: r.failed,
            };
          });
        },
      }));
  },
};
