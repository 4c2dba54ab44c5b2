// The benchmark harness's own logic (statistics, aggregation, report, chart, /proc sampling). No numbers
// are asserted about speed: performance is measured by `npm run bench`, never in tests.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BASELINE_NEEDS, baselineHome, prepareBaseline } from '../../bench/lib/baseline.js';
import { renderChart } from '../../bench/lib/chart.js';
import { baselineTwin, type RunRecord, repOrder, withBaseline } from '../../bench/lib/context.js';
import { TreeSampler, treePids } from '../../bench/lib/proc.js';
import {
  aggregate,
  beforeAfter,
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

  it('renders tables, the at-a-glance table (no project targets), skipped and failed cases, and a chart', () => {
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
    expect(md).toContain('| Feed hub N=5,000, async -c1000 (feeds/s) | 925 |');
    // The old at-a-glance targets stay out; issue 19's goals have their own table (bench-goals.test.ts).
    expect(md).not.toMatch(/issue 7|≥ 1,250/);
    expect(md).toContain('## Goals (issue 19)');
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
  // runs on SQLite), and the at-a-glance table (Redis's) ignores both.
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
    expect(md).toContain('| No-op drain with results stored (tasks/s) | not measured |');
    expect(md).toContain('| RabbitMQ rows | RabbitMQ 3.10.8 at `amqp://127.0.0.1:5672//`');
  });

  it('names the broker of bars off Redis in the chart', () => {
    const svg = renderChart(rows, 'subtitle');
    expect(svg).toContain('>noop/celeriac-async-100@sqlite on SQLite<');
    expect(svg).toContain('>noop/celery-solo-1<');
  });
});

describe('--baseline', () => {
  it('runs each Celeriac configuration beside its baseline twin, swapping them every other repetition', () => {
    const cfgs = withBaseline([
      { system: 'celeriac', pool: 'async', concurrency: 100 },
      { system: 'celery', pool: 'solo', concurrency: 1 },
    ]);
    expect(cfgs.map((c) => c.system)).toEqual(['celeriac', 'celeriac-base', 'celery']);
    expect(baselineTwin('noop-200/celeriac-async-100@amqp')).toBe('noop-200/celeriac-base-async-100@amqp');
    expect(baselineTwin('noop-200/celeriac-base-async-100')).toBeNull();
    expect(baselineTwin('noop-200/celery-solo-1')).toBeNull();
    const cases = ['x/celeriac-solo-1', 'x/celeriac-base-solo-1', 'x/celery-solo-1'].map((id) => ({ id }));
    expect(repOrder(cases, 1).map((c) => c.id)).toEqual(cases.map((c) => c.id));
    expect(repOrder(cases, 2).map((c) => c.id)).toEqual([
      'x/celeriac-base-solo-1',
      'x/celeriac-solo-1',
      'x/celery-solo-1',
    ]);
  });

  const runs = (system: 'celeriac' | 'celeriac-base', cpu: number[], drain: number[]): RunRecord[] =>
    cpu.map((c, i) => ({
      workload: 'noop',
      group: 'N=20000',
      case: system === 'celeriac' ? 'noop-20000/celeriac-async-100' : 'noop-20000/celeriac-base-async-100',
      label: system === 'celeriac' ? 'Celeriac async -c100' : 'Celeriac@abc1234 async -c100',
      system,
      rep: i + 1,
      metrics: { cpu_ms_per_task: c, drain_per_s: drain[i]! },
    }));
  const records = [
    ...runs('celeriac', [0.105, 0.1, 0.11], [10_000, 9_000, 11_000]),
    ...runs('celeriac-base', [0.1, 0.1, 0.1], [10_000, 10_000, 10_000]),
  ];
  const meta: Meta = {
    date: '2026-01-01T00:00:00.000Z',
    command: 'npm run bench -- --baseline main~1',
    durationS: 60,
    reps: 3,
    smoke: false,
    filters: '--baseline main~1',
    machine: { nproc: '2', cpu: 'CPU', ramGiB: '24', os: 'Linux', loadBefore: '0', loadAfter: '0' },
    versions: { node: '20', celeriac: '0.1.0 (def5678)', 'celeriac-base': '0.1.0 (abc1234)' },
    redisUrl: 'redis://127.0.0.1:6379/13',
    brokers: ['redis'],
    baseline: { ref: 'main~1', sha: 'abc1234'.padEnd(40, '0'), short: 'abc1234', subject: 'a commit' },
  };

  it('pairs Celeriac with its baseline: ratio of medians, and the range of the per-repetition ratios', () => {
    const rows = aggregate(records);
    const pairs = beforeAfter(rows, records);
    const cpu = pairs.find((p) => p.metric === 'cpu_ms_per_task')!;
    expect(cpu.ratio).toBeCloseTo(1.05);
    expect(cpu.paired.min).toBeCloseTo(1);
    expect(cpu.paired.max).toBeCloseTo(1.1);
    expect(cpu.paired.n).toBe(3);
    expect(pairs.find((p) => p.metric === 'drain_per_s')!.ratio).toBe(1);
  });

  it('renders the before/after table and the baseline rows beside Celeriac’s', () => {
    const md = renderReport(meta, aggregate(records), [], records);
    expect(md).toContain('## Before / after: Celeriac against `--baseline main~1` (abc1234)');
    expect(md).toContain(
      '| No-op throughput N=20000 | Celeriac async -c100 | Redis | worker CPU ms/task | 0.105 (0.100–0.110) | 0.100 | 1.050 (1.000–1.100) | +5.0 % (worse, within noise) |',
    );
    expect(md).toContain(
      '| drain with results /s | 10,000 (9,000–11,000) | 10,000 | 1.000 (0.900–1.100) | same |',
    );
    expect(md).toContain('| Celeriac baseline (`celeriac-base`) | 0.1.0 (abc1234): `--baseline main~1`');
    expect(md).toContain('| Celeriac@abc1234 async -c100 | Redis |');
    expect(md).toContain('current / this baseline: drain with results /s: 1.000; worker CPU ms/task: 1.050');
    // Without a baseline the report has no such section.
    const { baseline: _, ...plain } = meta;
    expect(renderReport(plain, aggregate(records), [], records)).not.toContain('Before / after');
  });

  it('checks out and builds the ref in a worktree once, then reuses it', () => {
    const root = mkdtempSync(join(tmpdir(), 'bench-baseline-'));
    try {
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
          cwd: root,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
      git('init', '-q');
      for (const f of BASELINE_NEEDS) {
        mkdirSync(dirname(join(root, f)), { recursive: true });
        writeFileSync(join(root, f), '');
      }
      writeFileSync(
        join(root, 'package.json'),
        JSON.stringify({ name: 'x', scripts: { build: 'mkdir -p dist && touch dist/index.js' } }),
      );
      writeFileSync(join(root, '.gitignore'), 'node_modules/\ndist/\n/bench/results/tmp/\n');
      git('add', '-A');
      git('commit', '-qm', 'first');
      mkdirSync(join(root, 'node_modules'));
      const logs: string[] = [];
      const b = prepareBaseline(root, 'HEAD', (m) => logs.push(m));
      expect(b.dir.startsWith(baselineHome(root))).toBe(true);
      expect(existsSync(join(b.dir, 'dist', 'index.js'))).toBe(true);
      expect(existsSync(join(b.dir, 'node_modules'))).toBe(true);
      expect(b.subject).toBe('first');
      logs.length = 0;
      expect(prepareBaseline(root, b.sha.slice(0, 10), (m) => logs.push(m)).dir).toBe(b.dir);
      expect(logs.join('\n')).toMatch(/reusing worktree[\s\S]*already built/);
      expect(() => prepareBaseline(root, 'no-such-ref', () => {})).toThrow(/not a commit/);
      rmSync(join(root, 'bench/celeriac/tasks.mjs'));
      git('commit', '-qam', 'second');
      expect(() => prepareBaseline(root, 'HEAD', () => {})).toThrow(/has no bench\/celeriac\/tasks\.mjs/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
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
