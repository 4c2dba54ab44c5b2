/**
 * Workload 1, the feed hub: N feeds on a local farm answering after 100 ms; each task fetches one feed
 * over keep-alive HTTP, parses it and returns its summary. Per run: feeds/s (N / wall time from the first
 * enqueue to the last result seen), worker CPU per feed and peak RSS; the first result is checked against
 * what the farm says feed i contains.
 *
 * Also the no-queue ceilings: the same fetch + parse at the same concurrency with no queue, in Node
 * (examples/feedhub/feed.ts) and in Python (requests + ElementTree on an eventlet GreenPool).
 *
 * N=5,000 (issue 19's row) unless `--feed-sizes`. Issue 19's multi-core rows: Celeriac `--processes 2`
 * (one worker command, consuming children) and BullMQ on two worker processes (the harness starts both;
 * CPU and RSS summed), each process at -c 500 so that every row holds 1,000 tasks in flight.
 */
import { join } from 'node:path';
import { describeFeed } from '../../examples/feedhub/server.js';
import {
  type BenchContext,
  type Case,
  caseId,
  drive,
  type Metrics,
  selected,
  withBaseline,
  withWorker,
} from '../lib/context.js';
import { runJson } from '../lib/proc.js';
import { redisCpuMsPer, redisCpuSeconds } from '../lib/redis-cpu.js';
import { brokerOf, configLabel, ROOT, totalConcurrency, type WorkerConfig } from '../lib/systems.js';

export const FEED_LATENCY_MS = 100;
/** The most feeds `--feed-sizes` may ask (the farm renders every body before the run). */
export const MAX_FEEDS = 10_000;
/**
 * Feeds fetched before measuring, by every queue and both ceilings. A Node worker speeds up over its
 * first thousands of tasks as V8 optimizes the parser and the queue's hot path; at 50 the measured run of
 * a fast machine (5,000 feeds in ~3 s) still held that start-up, twice over for the two-process rows.
 */
const WARMUP = 2000;
/** The warm-up of one run: at most its own N (a smoke run's farm serves 50 feeds). */
const warmupOf = (n: number): number => Math.min(WARMUP, n);

interface RunOut {
  n: number;
  wall: number;
  enqueue_seconds: number;
  failed: number;
  sample: unknown;
}

/** The N of each feed-hub group: N=5,000 (issue 19's row) unless `--feed-sizes` says otherwise. */
export const DEFAULT_FEED_SIZES: readonly number[] = [5000];
function sizes(ctx: BenchContext): readonly number[] {
  return ctx.smoke ? [40] : ctx.feedSizes;
}

/**
 * On RabbitMQ and SQLite only each system's best configuration on Redis (Celeriac async, Celery
 * eventlet): the question there is what the broker costs, which the pools compared on Redis do not change.
 */
function configs(ctx: BenchContext): WorkerConfig[] {
  if (ctx.smoke) {
    return [
      { system: 'celeriac', pool: 'async', concurrency: 100 },
      { system: 'celeriac', pool: 'async', concurrency: 50, extra: ['--processes', '2'] },
      { system: 'celery', pool: 'eventlet', concurrency: 100 },
      { system: 'celery', pool: 'prefork', concurrency: 2 },
      { system: 'bullmq', pool: 'async', concurrency: 100 },
      { system: 'bullmq', pool: 'async', concurrency: 50, processes: 2 },
      { system: 'celeriac', pool: 'async', concurrency: 100, broker: 'amqp' },
      { system: 'celery', pool: 'eventlet', concurrency: 100, broker: 'amqp' },
      { system: 'celeriac', pool: 'async', concurrency: 100, broker: 'sqlite' },
    ];
  }
  // Every multi-process row holds 1,000 tasks in flight in all, as the single processes do (the same
  // latency ceiling, 10,000 feeds/s): two processes of -c 500 each.
  return [
    { system: 'celeriac', pool: 'async', concurrency: 1000 },
    // Issue 19: one worker command on both cores, each child a full consumer (skipped by a build
    // without the flag).
    { system: 'celeriac', pool: 'async', concurrency: 500, extra: ['--processes', '2'] },
    // Prefork children each running async tasks: two processes (one per core) of -c 500 each.
    { system: 'celeriac', pool: 'prefork', concurrency: 2, extra: ['--child-concurrency', '500'] },
    { system: 'celery', pool: 'eventlet', concurrency: 1000 },
    // Slow rows no goal reads: the first repetition only (`--all-reps` runs them every time).
    { system: 'celery', pool: 'gevent', concurrency: 1000, once: true },
    { system: 'celery', pool: 'prefork', concurrency: 16, once: true },
    { system: 'bullmq', pool: 'async', concurrency: 1000 },
    // BullMQ on both cores: two worker processes on the queue, one worker for CPU and RSS.
    { system: 'bullmq', pool: 'async', concurrency: 500, processes: 2 },
    { system: 'celeriac', pool: 'async', concurrency: 1000, broker: 'amqp' },
    { system: 'celery', pool: 'eventlet', concurrency: 1000, broker: 'amqp', once: true },
    { system: 'celeriac', pool: 'async', concurrency: 1000, broker: 'sqlite' },
  ];
}

/** 1 when the sampled summary matches what the farm says the feed holds, else 0. */
function verified(sample: unknown): number {
  const s = sample as { url?: string; title?: string; items?: number; newest?: { date?: string } } | null;
  const m = s?.url ? /\/feed\/(\d+)\.xml/.exec(s.url) : null;
  if (!s || !m) return 0;
  const want = describeFeed(Number(m[1]));
  return s.title === want.title && s.items === want.items && s.newest?.date === want.newest.date ? 1 : 0;
}

function queueCase(cfg: WorkerConfig, n: number): Case {
  const concurrency = totalConcurrency(cfg);
  return {
    id: `feedhub-${n}/${caseId(cfg)}`,
    label: configLabel(cfg),
    system: cfg.system,
    broker: brokerOf(cfg),
    group: `N=${n}`,
    once: cfg.once ?? false,
    async run(ctx) {
      const farm = await ctx.feeds();
      const queue = ctx.queue(`feeds${n}`);
      return withWorker(ctx, cfg, 'fetch_feed', queue, async (w, ep) => {
        await drive(
          cfg.system,
          ['run', '--queue', queue, '--task', 'fetch_feed', '--urls', farm.urlsFile(warmupOf(n))],
          ep,
        );
        w.sampler.resetPeak();
        const redis0 = ep.broker === 'sqlite' ? null : await redisCpuSeconds(ctx.redisUrl);
        const cpu0 = w.sampler.cpu();
        const r = await drive<RunOut>(
          cfg.system,
          ['run', '--queue', queue, '--task', 'fetch_feed', '--urls', farm.urlsFile(n)],
          ep,
        );
        const cpu = w.sampler.cpu() - cpu0;
        const redis =
          redis0 === null ? undefined : redisCpuMsPer(redis0, await redisCpuSeconds(ctx.redisUrl), n);
        const m: Metrics = {
          feeds_per_s: n / r.wall,
          wall_s: r.wall,
          enqueue_s: r.enqueue_seconds,
          cpu_ms_per_feed: (cpu * 1000) / n,
          ...(redis === undefined ? {} : { redis_cpu_ms_per_feed: redis }),
          peak_rss_mb: w.sampler.peakRss() / 2 ** 20,
          failed: r.failed,
          verified: verified(r.sample),
          latency_ceiling_frac: n / r.wall / (concurrency / (FEED_LATENCY_MS / 1000)),
        };
        return m;
      });
    },
  };
}

function ceilingCase(lang: 'node' | 'python', n: number, concurrency: number): Case {
  return {
    id: `feedhub-${n}/ceiling-${lang}-${concurrency}`,
    label: lang === 'node' ? `no queue, Node c=${concurrency}` : `no queue, Python eventlet c=${concurrency}`,
    system: 'ceiling',
    broker: 'redis', // no queue at all; grouped with the Redis rows it was always shown with
    group: `N=${n}`,
    async run(ctx) {
      const farm = await ctx.feeds();
      const urls = farm.urlsFile(n);
      const spec =
        lang === 'node'
          ? {
              cmd: process.execPath,
              args: [
                '--import',
                'tsx',
                'bench/ceiling/node.ts',
                '--urls',
                urls,
                '--concurrency',
                String(concurrency),
                '--warmup',
                String(warmupOf(n)),
              ],
              cwd: ROOT,
            }
          : {
              cmd: '/usr/bin/python3',
              args: [
                'noqueue_eventlet.py',
                ...['--urls', urls, '--concurrency', String(concurrency), '--warmup', String(warmupOf(n))],
              ],
              cwd: join(ROOT, 'bench', 'anchors'),
            };
      const r = await runJson<{ wall: number; cpu_s: number; failed: number }>(spec);
      return {
        feeds_per_s: n / r.wall,
        wall_s: r.wall,
        cpu_ms_per_feed: (r.cpu_s * 1000) / n,
        failed: r.failed,
        latency_ceiling_frac: n / r.wall / (concurrency / (FEED_LATENCY_MS / 1000)),
      };
    },
  };
}

export const feedhub = {
  name: 'feedhub',
  title: 'Feed hub',
  cases(ctx: BenchContext): Case[] {
    const out: Case[] = [];
    const c = ctx.smoke ? 100 : 1000;
    for (const n of sizes(ctx)) {
      if (ctx.systems.has('ceiling')) out.push(ceilingCase('node', n, c), ceilingCase('python', n, c));
      for (const cfg of withBaseline(configs(ctx))) if (selected(ctx, cfg)) out.push(queueCase(cfg, n));
    }
    return out;
  },
  maxFeeds(smoke: boolean, feedSizes: readonly number[]): number {
    return smoke ? 50 : Math.max(...feedSizes);
  },
};
