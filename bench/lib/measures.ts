/**
 * What each metric means to the report: which way is better, a Celeriac value's ratio to an anchor and
 * which anchors it is held against, the columns of each workload's table and how a cell shows a value.
 * The report's tables, the before/after table and the at-a-glance table all read these, so they live
 * apart from each of them.
 */
import { fmt, type Row } from './rows.js';
import type { Summary } from './stats.js';
import type { BrokerId } from './systems.js';

/**
 * The anchors a Celeriac row is compared with: the same broker's, and Redis's for SQLite (no anchor runs
 * on SQLite: those rows say what the embedded default costs against the Redis anchors).
 */
export function anchorBroker(b: BrokerId): BrokerId {
  return b === 'sqlite' ? 'redis' : b;
}

/** Rates and shares are better higher; times, CPU, memory and failures are better lower. */
export function lowerIsBetter(metric: string): boolean {
  return !/_per_s$|frac$/.test(metric);
}

/** Ratio of a Celeriac value to the best anchor, oriented so that > 1 means Celeriac is better. */
export function ratio(metric: string, celeriac: number, anchor: number): number {
  return lowerIsBetter(metric) ? anchor / celeriac : celeriac / anchor;
}

/** A table cell: the median, with the min–max range when the repetitions differ; shares in percent. */
export function cell(s: Summary | undefined, metric = ''): string {
  if (!s || s.n === 0) return '—';
  const f = metric.endsWith('frac') ? (x: number) => `${(x * 100).toFixed(1)} %` : fmt;
  if (s.n === 1 || s.min === s.max) return f(s.median);
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

/** The best anchor's median for a metric within a workload group. */
export function bestAnchor(rows: readonly Row[], metric: string): { value: number; label: string } | null {
  let best: { value: number; label: string } | null = null;
  const lower = lowerIsBetter(metric);
  for (const r of rows) {
    if (r.system !== 'celery' && r.system !== 'bullmq') continue;
    const v = r.metrics[metric]?.median;
    if (v === undefined || !Number.isFinite(v)) continue;
    const label = metric.startsWith('enqueue') ? (SYSTEM_LABEL[r.system] ?? r.label) : r.label;
    if (!best || (lower ? v < best.value : v > best.value)) best = { value: v, label };
  }
  return best;
}

export const SYSTEM_LABEL: Record<string, string> = {
  celery: 'Celery',
  bullmq: 'BullMQ',
  celeriac: 'Celeriac',
};

interface Column {
  metric: string;
  title: string;
}

export const COLUMNS: Record<string, Column[]> = {
  feedhub: [
    { metric: 'feeds_per_s', title: 'feeds/s' },
    { metric: 'ceiling_frac', title: 'of no-queue ceiling' },
    { metric: 'latency_ceiling_frac', title: 'of latency ceiling' },
    { metric: 'cpu_ms_per_feed', title: 'worker CPU ms/feed' },
    { metric: 'overhead_ms_per_feed', title: 'queue overhead ms/feed' },
    { metric: 'redis_cpu_ms_per_feed', title: 'Redis server CPU ms/feed' },
    { metric: 'peak_rss_mb', title: 'peak RSS MB' },
    { metric: 'failed', title: 'failed' },
  ],
  noop: [
    { metric: 'enqueue_one_per_s', title: 'enqueue one by one /s' },
    { metric: 'enqueue_pipelined_per_s', title: 'enqueue one by one, 100 in flight /s' },
    { metric: 'enqueue_batch_per_s', title: 'enqueue batched /s' },
    { metric: 'drain_per_s', title: 'drain with results /s' },
    { metric: 'cpu_ms_per_task', title: 'worker CPU ms/task' },
    { metric: 'redis_cpu_ms_per_task', title: 'Redis server CPU ms/task' },
    { metric: 'peak_rss_mb', title: 'peak RSS MB' },
    { metric: 'failed', title: 'failed' },
  ],
  roundtrip: [
    { metric: 'p50_ms', title: 'p50 ms' },
    { metric: 'p99_ms', title: 'p99 ms' },
    { metric: 'mean_ms', title: 'mean ms' },
  ],
  inflight: [
    { metric: 'wall_s', title: 'wall s' },
    { metric: 'enqueue_s', title: 'of which enqueue s' },
    { metric: 'after_enqueue_s', title: 'after last enqueue s' },
    { metric: 'peak_rss_mb', title: 'peak RSS MB' },
    { metric: 'cpu_s', title: 'worker CPU s' },
    { metric: 'failed', title: 'failed' },
  ],
};

export const TITLES: Record<string, string> = Object.fromEntries(
  Object.values(COLUMNS).flatMap((cols) => cols.map((c) => [c.metric, c.title])),
);
