// The benchmark harness's issue 19 additions: the goals table, hand-written sections kept across a
// regenerated report, first-repetition-only rows, the time plan, a worker of several processes sampled as
// one. No numbers are asserted about speed: performance is measured by `npm run bench`, never in tests.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { caseId, type RunRecord, runsIn } from '../../bench/lib/context.js';
import { issue19Goals } from '../../bench/lib/goals.js';
import { BEGIN, END, handWritten, withHandWritten } from '../../bench/lib/handwritten.js';
import { renderPlan, savedTimings, secondsFromMetrics } from '../../bench/lib/plan.js';
import { TreeSampler, treePids } from '../../bench/lib/proc.js';
import { aggregate, deriveRecords, type Meta, renderReport } from '../../bench/lib/report.js';
import { configLabel, totalConcurrency } from '../../bench/lib/systems.js';

const rec = (
  workload: string,
  c: string,
  system: RunRecord['system'],
  metrics: Record<string, number>,
  extra: Partial<RunRecord> = {},
): RunRecord => ({
  workload,
  group: workload === 'feedhub' ? 'N=5000' : 'g',
  case: c,
  label: c.slice(c.indexOf('/') + 1),
  system,
  broker: 'redis',
  rep: 1,
  metrics,
  ...extra,
});

const records: RunRecord[] = [
  rec('feedhub', 'feedhub-5000/ceiling-node-1000', 'ceiling', { feeds_per_s: 1500, cpu_ms_per_feed: 0.5 }),
  rec('feedhub', 'feedhub-5000/celeriac-async-1000', 'celeriac', { feeds_per_s: 900, cpu_ms_per_feed: 0.6 }),
  rec('feedhub', 'feedhub-5000/celeriac-async-500---processes-2', 'celeriac', {
    feeds_per_s: 1400,
    cpu_ms_per_feed: 0.56,
  }),
  rec('feedhub', 'feedhub-5000/bullmq-async-1000', 'bullmq', { feeds_per_s: 1000, cpu_ms_per_feed: 0.7 }),
  rec('feedhub', 'feedhub-5000/bullmq-async-500-x2', 'bullmq', { feeds_per_s: 1200, cpu_ms_per_feed: 0.8 }),
  rec('feedhub', 'feedhub-5000/celery-eventlet-1000', 'celery', { feeds_per_s: 200, cpu_ms_per_feed: 5 }),
  rec('noop', 'noop-20000/celeriac-async-100', 'celeriac', { drain_per_s: 15000 }),
  rec('noop', 'noop-20000/celeriac-async-100---task-events', 'celeriac', { drain_per_s: 30000 }),
  rec('noop', 'noop-20000/bullmq-async-100', 'bullmq', { drain_per_s: 10000 }),
  rec(
    'noop',
    'noop-20000/celeriac-async-100@amqp',
    'celeriac',
    { enqueue_one_per_s: 3000 },
    { broker: 'amqp' },
  ),
  rec('noop', 'noop-20000/celery-prefork-2@amqp', 'celery', { enqueue_one_per_s: 2500 }, { broker: 'amqp' }),
  rec('roundtrip', 'roundtrip-500/celeriac-async-100', 'celeriac', { p50_ms: 1 }),
  rec('roundtrip', 'roundtrip-500/bullmq-async-1', 'bullmq', { p50_ms: 1.7 }),
  rec('inflight', 'inflight-10000/celeriac-async-10000', 'celeriac', { peak_rss_mb: 120 }),
  rec('inflight', 'inflight-10000/celery-eventlet-10000', 'celery', { peak_rss_mb: 150 }),
];

describe('goals (issue 19)', () => {
  const md = issue19Goals(aggregate(deriveRecords(records)));
  const line = (start: string) => md.split('\n').find((l) => l.startsWith(`| ${start}`)) ?? '';

  it('compares one worker command (the best Celeriac row) with BullMQ on one process, against the goal', () => {
    expect(line('Feed hub N=5,000, c=1,000, one worker command')).toContain(
      '| 0.97× | ≥ 1.35× | **1.40×** (celeriac-async-500---processes-2 1,400 feeds/s, bullmq-async-1000 1,000) | met |',
    );
    expect(line('… vs BullMQ on two processes')).toContain('**1.17×**');
    expect(line('… Celeriac async -c1000 (one process) vs BullMQ, two processes')).toContain('**0.75×**');
  });

  it('reads queue CPU as worker CPU minus the ceiling’s, one process against one, against half of BullMQ’s', () => {
    // Celeriac async (one process) 0.6 − 0.5 = 0.1 ms; BullMQ 0.7 − 0.5 = 0.2 ms: 0.50 ×. The two-process
    // rows (the faster Celeriac one among them) are listed, not paired with the one-process ceiling.
    expect(line('Queue CPU per feed')).toContain(
      '**0.100 ms = 0.50 × BullMQ’s 0.200** (celeriac-async-1000;',
    );
    expect(line('Queue CPU per feed')).toContain('celeriac-async-500---processes-2: 0.060 ms');
    expect(line('Queue CPU per feed')).toMatch(/\| met \|$/);
    expect(line('Feed hub: Celeriac’s share')).toContain('**93.3 %**');
  });

  it('takes the plain drain rows only, round trip and RSS in the goal’s orientation, RabbitMQ’s client rates', () => {
    expect(line('No-op drain')).toContain('**1.50×** (celeriac-async-100 15,000/s');
    expect(line('Round trip p50')).toContain('**1.70× faster**');
    expect(line('10,000 in flight')).toMatch(/\*\*0\.80×\*\*.*\| met \|$/);
    expect(line('RabbitMQ enqueue')).toContain('**1.20×** (Celeriac 3,000/s, Celery 2,500/s) | met |');
  });

  it('says "not measured" for a row whose cases did not run', () => {
    const only = issue19Goals(aggregate(records.filter((r) => r.workload === 'roundtrip')));
    expect(only).toContain(
      '| No-op drain, results stored, vs BullMQ c=100 | 1.05× | ≥ 1.5× | not measured | — |',
    );
  });
});

describe('hand-written sections', () => {
  const generated = '# Benchmarks\n\n## Feed hub\n\nnew table\n\n## Other benchmarks\n\n- x\n';

  it('keeps unmarked sections the generator never writes, then keeps them by their markers', () => {
    const old =
      '# Benchmarks\n\n## Feed hub\n\nold table\n\n## Task events cost\n\nby hand\n\n## Observability cost\n\n### sub\n\nalso\n\n## Other benchmarks\n\n- x\n';
    const first = withHandWritten(generated, handWritten(old));
    expect(first).toContain('new table');
    expect(first).not.toContain('old table');
    expect(first).toContain(
      `${BEGIN}\n## Task events cost\n\nby hand\n${END}\n\n${BEGIN}\n## Observability cost`,
    );
    expect(first.indexOf('### sub')).toBeLessThan(first.indexOf('## Other benchmarks'));
    // Once marked, a rewrite is the same text.
    expect(withHandWritten(generated, handWritten(first))).toBe(first);
  });

  it('keeps a marked section whatever its heading, and nothing from a report that has none', () => {
    const marked = `## Feed hub\n\nold\n\n${BEGIN}\n## Feed hub, by hand\n\nkept\n${END}\n`;
    expect(handWritten(marked)).toEqual([`${BEGIN}\n## Feed hub, by hand\n\nkept\n${END}`]);
    expect(handWritten(generated)).toEqual([]);
    expect(withHandWritten(generated, [])).toBe(generated);
  });
});

describe('repetitions, plan, systems', () => {
  it('runs `once` cases in the first repetition only, unless --all-reps', () => {
    expect(runsIn({ once: true }, 1, false)).toBe(true);
    expect(runsIn({ once: true }, 2, false)).toBe(false);
    expect(runsIn({ once: true }, 2, true)).toBe(true);
    expect(runsIn({}, 3, false)).toBe(true);
  });

  it('labels and counts a worker of several processes', () => {
    const two = { system: 'bullmq', pool: 'async', concurrency: 500, processes: 2 } as const;
    expect(configLabel(two)).toBe('BullMQ 2 processes × c=500');
    expect(caseId(two)).toBe('bullmq-async-500-x2');
    expect(totalConcurrency(two)).toBe(1000);
    expect(
      totalConcurrency({ system: 'celeriac', pool: 'async', concurrency: 500, extra: ['--processes', '2'] }),
    ).toBe(1000);
    expect(
      totalConcurrency({
        system: 'celeriac',
        pool: 'prefork',
        concurrency: 2,
        extra: ['--child-concurrency', '500'],
      }),
    ).toBe(1000);
  });

  it('estimates the run from saved per-case seconds, a family median for a new case', () => {
    expect(
      secondsFromMetrics(
        rec('noop', 'noop-20000/x', 'celery', { enqueue_one_per_s: 2000, drain_per_s: 1000 }),
      ),
    ).toBe(34);
    const timings = new Map([
      ['feedhub-5000/celery-eventlet-1000', 40],
      ['feedhub-5000/celeriac@redis', 10],
    ]);
    const plan = renderPlan(
      [
        { id: 'feedhub-5000/celery-eventlet-1000', system: 'celery', broker: 'redis', once: true },
        { id: 'feedhub-5000/celeriac-async-500---processes-2', system: 'celeriac', broker: 'redis' },
      ],
      3,
      false,
      timings,
      0,
    );
    expect(plan).toContain('repetition 1: 2 cases, ~0.8 min');
    expect(plan).toContain('repetition 2: 1 cases');
    expect(plan).toContain("10 s (its family's median)");
    expect(plan).toContain('estimate: ~1.2 min');
    expect(savedTimings(['/nonexistent']).size).toBe(0);
  });

  it('renders the goals first and marks rows measured in fewer repetitions', () => {
    const two = [...records, { ...records[1]!, rep: 2 }, { ...records[0]!, rep: 2 }];
    const meta = { date: 'd', command: 'c', durationS: 1, reps: 2, smoke: false, filters: '' } as Meta;
    meta.machine = { nproc: '2', cpu: 'x', ramGiB: '1', os: 'l', loadBefore: '', loadAfter: '' };
    meta.versions = {};
    const md = renderReport(meta, aggregate(deriveRecords(two)), []);
    expect(md.indexOf('## Goals (issue 19)')).toBeLessThan(md.indexOf('## How to run'));
    expect(md).toContain('| celery-eventlet-1000 (1 run) | Redis |');
    expect(md).toContain('Rows marked "(1 run)" ran in the first repetition only');
  });
});

describe('a worker of several processes', () => {
  it('samples every process tree as one', async () => {
    const a = spawn('sleep', ['30'], { stdio: 'ignore' });
    const b = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await Promise.all([once(a, 'spawn'), once(b, 'spawn')]);
      expect(treePids([a.pid!, b.pid!])).toEqual([a.pid, b.pid]);
      const both = new TreeSampler([a.pid!, b.pid!]);
      const one = new TreeSampler(a.pid!);
      expect(both.pids()).toEqual([a.pid, b.pid]);
      expect(both.peakRss()).toBeGreaterThan(one.peakRss());
      both.stop();
      one.stop();
    } finally {
      a.kill('SIGKILL');
      b.kill('SIGKILL');
    }
  });
});
