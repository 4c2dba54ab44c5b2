/**
 * Workload 2, no-op throughput: N tasks that do nothing but store a result.
 *
 * Per worker configuration and repetition:
 * 1. with no worker running, the system's own client enqueues N tasks one by one, each awaited
 *    (`enqueue_one_per_s`); once per system and repetition it also enqueues N with its batched form
 *    (`enqueue_batch_per_s`: Celeriac `applyMany`, BullMQ `addBulk`, 1000 per call; Celery has none) into
 *    a scratch queue that is purged;
 * 2. the worker starts on the loaded queue and drains it; the drain rate is read from the result
 *    backend's own completion times, (N - 1) / (last done - first done), so worker start-up is not counted;
 *    worker CPU is taken from ready to the last result.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchContext, type Case, caseId, drive, withWorker } from '../lib/context.js';
import { configLabel, SYSTEMS, type SystemId, type WorkerConfig } from '../lib/systems.js';

interface EnqOut {
  seconds: number;
  rate: number;
}
interface WaitOut {
  first_done: number;
  last_done: number;
  failed: number;
}

function configs(): WorkerConfig[] {
  return [
    { system: 'celeriac', pool: 'async', concurrency: 100 },
    { system: 'celeriac', pool: 'solo', concurrency: 1 },
    { system: 'celery', pool: 'prefork', concurrency: 2 },
    { system: 'celery', pool: 'solo', concurrency: 1 },
    { system: 'celery', pool: 'eventlet', concurrency: 1000 },
    { system: 'bullmq', pool: 'async', concurrency: 1 },
    { system: 'bullmq', pool: 'async', concurrency: 100 },
  ];
}

export const noop = {
  name: 'noop',
  title: 'No-op throughput',
  cases(ctx: BenchContext): Case[] {
    const n = ctx.smoke ? 200 : 20_000;
    const batchDone = new Set<string>();
    return configs()
      .filter((cfg) => ctx.systems.has(cfg.system))
      .map((cfg) => ({
        id: `noop-${n}/${caseId(cfg)}`,
        label: configLabel(cfg),
        system: cfg.system,
        group: `N=${n}`,
        async run(c: BenchContext) {
          const sys: SystemId = cfg.system;
          const metrics: Record<string, number> = {};
          const key = `${sys}/${c.rep}`;
          if (SYSTEMS[sys].batch && !batchDone.has(key)) {
            batchDone.add(key);
            const scratch = c.queue('noopbatch');
            try {
              const b = await drive<EnqOut>(sys, [
                'enqueue',
                '--queue',
                scratch,
                '--n',
                String(n),
                '--mode',
                'batch',
              ]);
              metrics.enqueue_batch_per_s = b.rate;
            } finally {
              await drive(sys, ['purge', '--queue', scratch]);
            }
          }
          const queue = c.queue('noop');
          const ids = join(c.tmp, `${queue}.ids.json`);
          const e = await drive<EnqOut>(sys, [
            'enqueue',
            '--queue',
            queue,
            '--n',
            String(n),
            '--mode',
            'one',
            '--ids-out',
            ids,
          ]);
          metrics.enqueue_one_per_s = e.rate;
          return withWorker(c, cfg, 'noop', queue, async (w) => {
            w.sampler.resetPeak();
            const cpu0 = w.sampler.cpu();
            const r = await drive<WaitOut>(sys, ['wait', '--queue', queue, '--n', String(n), '--ids', ids]);
            rmSync(ids, { force: true });
            const cpu = w.sampler.cpu() - cpu0;
            return {
              ...metrics,
              drain_per_s: (n - 1) / (r.last_done - r.first_done),
              cpu_ms_per_task: (cpu * 1000) / n,
              peak_rss_mb: w.sampler.peakRss() / 2 ** 20,
              failed: r.failed,
            };
          });
        },
      }));
  },
};
