// The benchmark harness's own logic (statistics, aggregation, report, chart, /proc sampling). No numbers
// are asserted about speed: performance is measured by `npm run bench`, never in tests.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { renderChart } from '../../bench/lib/chart.js';
import type { RunRecord } from '../../bench/lib/context.js';
import { TreeSampler, treePids } from '../../bench/lib/proc.js';
import {
  aggregate,
  deriveRecords,
  lowerIsBetter,
  type Meta,
  ratio,
  renderReport,
} from '../../bench/lib/report.js';
import { median, percentile, summarize } from '../../bench/lib/stats.js';

describe('stats', () => {
  it('median, nearest-rank percentile, summary', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(summarize([5, Number.NaN, 1, 3])).toEqual({ median: 3, min: 1, max: 5, n: 3 });
  });
});

const rec = (r: Partial<RunRecord> & Pick<RunRecord, 'case' | 'system' | 'metrics'>): RunRecord => ({
  workload: 'feedhub',
  group: 'N=5000',
  label: r.case,
  rep: 1,
  ...r,
});

describe('report', () => {
  const records: RunRecord[] = [
    rec({
      case: 'feedhub-5000/ceiling-node-1000',
      system: 'ceiling',
      metrics: { feeds_per_s: 1000, cpu_ms_per_feed: 1 },
    }),
    rec({
      case: 'feedhub-5000/ceiling-node-1000',
      system: 'ceiling',
      rep: 2,
      metrics: { feeds_per_s: 950, cpu_ms_per_feed: 1 },
    }),
    rec({
      case: 'feedhub-5000/celeriac-async-1000',
      system: 'celeriac',
      metrics: { feeds_per_s: 900, cpu_ms_per_feed: 1.05 },
    }),
    rec({
      case: 'feedhub-5000/celeriac-async-1000',
      system: 'celeriac',
      rep: 2,
      metrics: { feeds_per_s: 950, cpu_ms_per_feed: 1.05 },
    }),
    rec({
      case: 'feedhub-5000/bullmq-async-1000',
      system: 'bullmq',
      metrics: { feeds_per_s: 600, cpu_ms_per_feed: 1.4 },
    }),
    rec({
      case: 'feedhub-5000/celeriac-prefork-2',
      system: 'celeriac',
      metrics: {},
      skipped: 'no --child-concurrency',
    }),
    rec({ case: 'feedhub-5000/celery-eventlet-1000', system: 'celery', metrics: {}, error: 'boom' }),
  ];

  it('aggregates repetitions; pairs each run with the ceiling of its own repetition', () => {
    const rows = aggregate(deriveRecords(records));
    const c = rows.find((r) => r.case === 'feedhub-5000/celeriac-async-1000')!;
    expect(c.runs).toBe(2);
    expect(c.metrics.feeds_per_s).toEqual({ median: 925, min: 900, max: 950, n: 2 });
    expect(c.metrics.ceiling_frac?.median).toBeCloseTo(0.95);
    expect(c.metrics.overhead_ms_per_feed?.median).toBeCloseTo(0.05);
    expect(rows.find((r) => r.case.endsWith('prefork-2'))?.skipped).toBe('no --child-concurrency');
  });

  it('orients ratios so that > 1 means Celeriac is better', () => {
    expect(lowerIsBetter('feeds_per_s')).toBe(false);
    expect(lowerIsBetter('p99_ms')).toBe(true);
    expect(ratio('feeds_per_s', 900, 600)).toBeCloseTo(1.5);
    expect(ratio('p50_ms', 1, 2)).toBe(2);
  });

  it('renders tables, goals, skipped and failed cases, and a chart', () => {
    const rows = aggregate(deriveRecords(records));
    const meta: Meta = {
      date: '2026-01-01T00:00:00.000Z',
      command: 'npm run bench',
      durationS: 60,
      reps: 2,
      smoke: false,
      filters: '',
      machine: { nproc: '2', cpu: 'CPU', ramGiB: '24', os: 'Linux', loadBefore: '0', loadAfter: '0' },
      versions: { node: '20' },
      redisUrl: 'redis://127.0.0.1:6379/13',
    };
    const md = renderReport(meta, rows, ['a note']);
    expect(md).toContain(
      '| feedhub-5000/celeriac-async-1000 | Redis | 925 (900–950) | 95.0 % (90.0 %–100.0 %)',
    );
    expect(md).toContain('feeds/s: 1.54× (feedhub-5000/bullmq-async-1000)');
    expect(md).toContain('| Feed hub N=5,000, async -c1000 | ≥ 1,250 feeds/s | 925 | no |');
    expect(md).toContain('## Not measured in this checkout');
    expect(md).toContain('## Failed runs');
    expect(md).toContain('- a note');
    const svg = renderChart(rows, 'subtitle');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Feed hub N=5000: feeds/s');
  });
});

describe('report: brokers', () => {
  // Off Redis: RabbitMQ rows are compared with RabbitMQ anchors, SQLite rows with Redis ones (no anchor
  // runs on SQLite), and the goals (the Redis setting) ignore both.
  const records: RunRecord[] = [
    rec({ case: 'noop/celery-solo-1', system: 'celery', metrics: { drain_per_s: 1000 } }),
    rec({
      case: 'noop/celery-solo-1@amqp',
      system: 'celery',
      broker: 'amqp',
      metrics: { drain_per_s: 500 },
    }),
    rec({
      case: 'noop/celeriac-async-100@amqp',
      system: 'celeriac',
      broker: 'amqp',
      metrics: { drain_per_s: 1500 },
    }),
    rec({
      case: 'noop/celeriac-async-100@sqlite',
      system: 'celeriac',
      broker: 'sqlite',
      metrics: { drain_per_s: 4000 },
    }),
  ].map((r) => ({ ...r, workload: 'noop', group: 'N=20000' }));
  const rows = aggregate(records);
  const meta: Meta = {
    date: '2026-01-01T00:00:00.000Z',
    command: 'npm run bench',
    durationS: 60,
    reps: 1,
    smoke: false,
    filters: '',
    machine: { nproc: '2', cpu: 'CPU', ramGiB: '24', os: 'Linux', loadBefore: '0', loadAfter: '0' },
    versions: { node: '20', rabbitmq: 'RabbitMQ 3.10.8', sqlite: 'SQLite 3.46' },
    redisUrl: 'redis://127.0.0.1:6379/13',
    amqpUrl: 'amqp://127.0.0.1:5672//',
    brokers: ['redis', 'amqp', 'sqlite'],
  };

  it('shows the broker in each row, Redis first, and compares with the right anchors', () => {
    const md = renderReport(meta, rows, []);
    const lines = md.split('\n').filter((l) => l.startsWith('| noop/'));
    expect(lines.map((l) => l.split(' | ')[1])).toEqual(['Redis', 'RabbitMQ', 'RabbitMQ', 'SQLite']);
    expect(md).toContain('drain with results /s: 3.00× (noop/celery-solo-1@amqp on RabbitMQ)');
    expect(md).toContain('drain with results /s: 4.00× (noop/celery-solo-1 on Redis)');
    expect(md).toContain('| No-op drain with results stored | ≥ 17,000 tasks/s | not measured |');
    expect(md).toContain('| RabbitMQ rows | RabbitMQ 3.10.8 at `amqp://127.0.0.1:5672//`');
  });

  it('names the broker of bars off Redis in the chart', () => {
    const svg = renderChart(rows, 'subtitle');
    expect(svg).toContain('>noop/celeriac-async-100@sqlite on SQLite<');
    expect(svg).toContain('>noop/celery-solo-1<');
  });
});

describe('process-tree sampling', () => {
  it('finds a child and its grandchild and reads their CPU and RSS', async () => {
    const child = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      // The shell forks `sleep` right away; poll /proc until the grandchild shows up.
      let pids = treePids(child.pid!);
      for (let i = 0; i < 500 && pids.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 10));
        pids = treePids(child.pid!);
      }
      expect(pids[0]).toBe(child.pid);
      expect(pids.length).toBe(2);
      const s = new TreeSampler(child.pid!);
      expect(s.cpu()).toBeGreaterThanOrEqual(0);
      expect(s.peakRss()).toBeGreaterThan(0);
      s.stop();
    } finally {
      for (const p of treePids(child.pid!).reverse()) process.kill(p, 'SIGKILL');
    }
  });
});
