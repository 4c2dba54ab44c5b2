/**
 * Turns the run records into docs/benchmarks.md: one table per workload (median and min-max over the
 * repetitions, a broker column, Redis rows first), ratios of each Celeriac row to the best anchor on a
 * comparable broker, the ceilings, and an "at a glance" table of the headline measures (on Redis) with
 * Celeriac's value and its ratio to each anchor. The report is for users: what was measured, against
 * what, on which machine, how to reproduce it; the old project targets (GOALS' `target`/`met`) stay out
 * of it. Issue 19's goals, which the issue asks to see in the report, open it (lib/goals.ts); the
 * hand-written sections are kept by run.ts (lib/handwritten.ts).
 */
import { baselineTwin, type RunRecord } from './context.js';
import { issue19Goals } from './goals.js';
import { fmt, type Row } from './rows.js';

export { fmt, type Row };

import { median, type Summary, summarize } from './stats.js';
import { BROKER_IDS, BROKER_LABEL, type BrokerId } from './systems.js';

export interface Meta {
  date: string;
  command: string;
  durationS: number;
  reps: number;
  smoke: boolean;
  filters: string;
  machine: { nproc: string; cpu: string; ramGiB: string; os: string; loadBefore: string; loadAfter: string };
  versions: Record<string, string>;
  redisUrl: string;
  /** Absent in runs saved before brokers were a dimension (Redis only). */
  amqpUrl?: string | undefined;
  brokers?: string[];
  /** `--baseline <ref>`: the commit the `celeriac-base` rows ran from. */
  baseline?: { ref: string; sha: string; short: string; subject: string };
}

/** Aggregate the records of each case over its repetitions. */
export function aggregate(records: readonly RunRecord[]): Row[] {
  const rows = new Map<string, Row>();
  const values = new Map<string, Map<string, number[]>>();
  for (const r of records) {
    let row = rows.get(r.case);
    if (!row) {
      row = {
        workload: r.workload,
        group: r.group,
        case: r.case,
        label: r.label,
        system: r.system,
        broker: r.broker ?? 'redis',
        metrics: {},
        errors: [],
        skipped: null,
        runs: 0,
      };
      rows.set(r.case, row);
      values.set(r.case, new Map());
    }
    if (r.skipped) {
      row.skipped = r.skipped;
      continue;
    }
    row.runs++;
    if (r.error) row.errors.push(r.error);
    const vals = values.get(r.case)!;
    for (const [k, v] of Object.entries(r.metrics)) {
      const list = vals.get(k) ?? [];
      list.push(v);
      vals.set(k, list);
    }
  }
  for (const [id, row] of rows) {
    for (const [k, list] of values.get(id)!) row.metrics[k] = summarize(list);
  }
  return [...rows.values()];
}

/** A row's name outside its table (chart, lists): the label, plus the broker when it is not Redis. */
export function rowName(r: Pick<Row, 'label' | 'broker'>): string {
  return r.broker === 'redis' ? r.label : `${r.label} on ${BROKER_LABEL[r.broker]}`;
}

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

function cell(s: Summary | undefined, metric = ''): string {
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

interface Column {
  metric: string;
  title: string;
}

const COLUMNS: Record<string, Column[]> = {
  feedhub: [
    { metric: 'feeds_per_s', title: 'feeds/s' },
    { metric: 'ceiling_frac', title: 'of no-queue ceiling' },
    { metric: 'latency_ceiling_frac', title: 'of latency ceiling' },
    { metric: 'cpu_ms_per_feed', title: 'worker CPU ms/feed' },
    { metric: 'overhead_ms_per_feed', title: 'queue overhead ms/feed' },
    { metric: 'peak_rss_mb', title: 'peak RSS MB' },
    { metric: 'failed', title: 'failed' },
  ],
  noop: [
    { metric: 'enqueue_one_per_s', title: 'enqueue one by one /s' },
    { metric: 'enqueue_pipelined_per_s', title: 'enqueue one by one, 100 in flight /s' },
    { metric: 'enqueue_batch_per_s', title: 'enqueue batched /s' },
    { metric: 'drain_per_s', title: 'drain with results /s' },
    { metric: 'cpu_ms_per_task', title: 'worker CPU ms/task' },
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

/** Ratio of a Celeriac value to the best anchor, oriented so that > 1 means Celeriac is better. */
export function ratio(metric: string, celeriac: number, anchor: number): number {
  return lowerIsBetter(metric) ? anchor / celeriac : celeriac / anchor;
}

/** Derived metrics that need other rows: fraction of the own-language ceiling and queue overhead. */
/**
 * Metrics that need the no-queue ceiling, paired within each repetition (the ceiling run of the same N
 * and repetition, minutes apart), so drifting machine load moves both sides of the ratio together.
 * Celery is compared with the Python ceiling, Celeriac and BullMQ with the Node one.
 */
export function deriveRecords(records: readonly RunRecord[]): RunRecord[] {
  return records.map((r) => {
    if (r.workload !== 'feedhub' || r.system === 'ceiling' || r.error || r.skipped) return r;
    const lang = r.system === 'celery' ? 'python' : 'node';
    const c = records.find(
      (x) => x.rep === r.rep && x.group === r.group && x.case.includes(`/ceiling-${lang}-`) && !x.error,
    );
    const fps = r.metrics.feeds_per_s;
    const cpu = r.metrics.cpu_ms_per_feed;
    const metrics = { ...r.metrics };
    if (c && fps !== undefined && c.metrics.feeds_per_s) metrics.ceiling_frac = fps / c.metrics.feeds_per_s;
    if (c && cpu !== undefined && c.metrics.cpu_ms_per_feed !== undefined) {
      metrics.overhead_ms_per_feed = cpu - c.metrics.cpu_ms_per_feed;
    }
    return { ...r, metrics };
  });
}

/** The metrics a `--baseline` run compares, per workload (the before/after table and the baseline rows). */
export const BEFORE_AFTER: Record<string, string[]> = {
  feedhub: ['feeds_per_s', 'cpu_ms_per_feed', 'peak_rss_mb'],
  noop: [
    'enqueue_one_per_s',
    'enqueue_pipelined_per_s',
    'enqueue_batch_per_s',
    'drain_per_s',
    'cpu_ms_per_task',
    'peak_rss_mb',
  ],
  roundtrip: ['p50_ms', 'p99_ms'],
  inflight: ['wall_s', 'peak_rss_mb', 'cpu_s'],
};

export interface Pair {
  workload: string;
  group: string;
  label: string;
  broker: BrokerId;
  metric: string;
  current: Summary;
  baseline: Summary;
  /** current median / baseline median. */
  ratio: number;
  /** Range of current / baseline paired within each repetition (both measured minutes apart). */
  paired: Summary;
}

/** Each Celeriac row's metrics against its `celeriac-base` twin (same case, the baseline's build). */
export function beforeAfter(rows: readonly Row[], records: readonly RunRecord[]): Pair[] {
  const out: Pair[] = [];
  const ok = (r: RunRecord) => !r.error && !r.skipped;
  for (const cur of rows) {
    if (cur.system !== 'celeriac') continue;
    const twin = baselineTwin(cur.case);
    const base = rows.find((r) => r.case === twin);
    if (!base) continue;
    for (const metric of BEFORE_AFTER[cur.workload] ?? []) {
      const c = cur.metrics[metric];
      const b = base.metrics[metric];
      if (!c?.n || !b?.n) continue;
      const per: number[] = [];
      for (const rc of records) {
        if (rc.case !== cur.case || !ok(rc) || rc.metrics[metric] === undefined) continue;
        const rb = records.find((x) => x.case === twin && x.rep === rc.rep && ok(x));
        const vb = rb?.metrics[metric];
        if (vb) per.push(rc.metrics[metric]! / vb);
      }
      out.push({
        workload: cur.workload,
        group: cur.group,
        label: cur.label,
        broker: cur.broker,
        metric,
        current: c,
        baseline: b,
        ratio: c.median / b.median,
        paired: summarize(per),
      });
    }
  }
  return out;
}

const TITLES: Record<string, string> = Object.fromEntries(
  Object.values(COLUMNS).flatMap((cols) => cols.map((c) => [c.metric, c.title])),
);

function beforeAfterTable(meta: Meta, pairs: readonly Pair[], workloads: [string, string, string][]): string {
  const b = meta.baseline!;
  const out = [
    `## Before / after: Celeriac against \`--baseline ${b.ref}\` (${b.short})`,
    '',
    `Both builds ran in this one invocation: each Celeriac case was followed (on even repetitions preceded) by the same case run from the baseline commit ${b.short} ("${b.subject}"), checked out and built in its own worktree (its bin/celeriac.js, dist/ and bench/celeriac/, this checkout's node_modules). current / baseline is the ratio of the medians (> 1: the current value is higher); in brackets, with more than one repetition, the range of that ratio paired within each repetition, a measure of the noise ("within noise" when it spans 1: some repetition went the other way). With one repetition there is no such measure; a few percent is then noise.`,
    '',
    `| workload | case | broker | metric | current | baseline ${b.short} | current / baseline | change |`,
    '|---|---|---|---|---:|---:|---:|---|',
  ];
  const title = (w: string) => workloads.find((x) => x[0] === w)?.[1] ?? w;
  for (const p of pairs) {
    const range =
      p.paired.n > 1 && p.paired.min !== p.paired.max
        ? ` (${p.paired.min.toFixed(3)}–${p.paired.max.toFixed(3)})`
        : '';
    const pct = (p.ratio - 1) * 100;
    const better = lowerIsBetter(p.metric) ? pct < 0 : pct > 0;
    // Some repetition went the other way (or not at all): the paired ratios span 1.
    const noise = p.paired.n > 1 && p.paired.min <= 1 && p.paired.max >= 1;
    const [ratioCell, change] = !Number.isFinite(p.ratio)
      ? ['—', 'n/a (baseline 0)']
      : [
          `${p.ratio.toFixed(3)}${range}`,
          Math.abs(pct) < 0.05
            ? 'same'
            : `${pct > 0 ? '+' : '−'}${Math.abs(pct).toFixed(1)} % (${better ? 'better' : 'worse'}${noise ? ', within noise' : ''})`,
        ];
    out.push(
      `| ${title(p.workload)} ${p.group} | ${p.label} | ${BROKER_LABEL[p.broker]} | ${TITLES[p.metric] ?? p.metric} | ${cell(p.current, p.metric)} | ${cell(p.baseline, p.metric)} | ${ratioCell} | ${change} |`,
    );
  }
  if (!pairs.length) out.push('| — | no Celeriac case ran beside its baseline twin | | | | | | |');
  out.push('');
  return out.join('\n');
}

function table(rows: Row[], workload: string): string {
  const cols = COLUMNS[workload] ?? [];
  const out: string[] = [];
  const groups = [...new Set(rows.filter((r) => r.workload === workload).map((r) => r.group))];
  const order = (r: Row) => BROKER_IDS.indexOf(r.broker);
  let fewer = false;
  for (const g of groups) {
    const rs = rows
      .filter((r) => r.workload === workload && r.group === g && r.runs > 0)
      .sort((a, b) => order(a) - order(b)); // stable: each broker's rows keep the workload's order
    const most = Math.max(...rs.map((r) => r.runs));
    const used = cols.filter((c) => rs.some((r) => r.metrics[c.metric]?.n));
    out.push(`**${g}**`, '');
    out.push(`| system | broker | ${used.map((c) => c.title).join(' | ')} | vs best anchor |`);
    out.push(`|---|---|${used.map(() => '---:').join('|')}|---|`);
    for (const r of rs) {
      const vs: string[] = [];
      if (r.system === 'celeriac') {
        const peers = rs.filter((x) => x.broker === anchorBroker(r.broker));
        const on = r.broker === 'redis' ? '' : ` on ${BROKER_LABEL[anchorBroker(r.broker)]}`;
        for (const c of used.slice(0, 3)) {
          const b = bestAnchor(peers, c.metric);
          const v = r.metrics[c.metric]?.median;
          if (b && v !== undefined && Number.isFinite(v) && !/frac|failed/.test(c.metric)) {
            vs.push(`${c.title}: ${ratio(c.metric, v, b.value).toFixed(2)}× (${b.label}${on})`);
          }
        }
      }
      if (r.system === 'celeriac-base') {
        const cur = rs.find((x) => x.system === 'celeriac' && baselineTwin(x.case) === r.case);
        for (const m of BEFORE_AFTER[workload] ?? []) {
          const c = cur?.metrics[m]?.median;
          const b = r.metrics[m]?.median;
          if (c !== undefined && b && Number.isFinite(c / b))
            vs.push(`${TITLES[m] ?? m}: ${(c / b).toFixed(3)}`);
        }
        if (vs.length) vs[0] = `current / this baseline: ${vs[0]}`;
      }
      const err = r.errors.length ? ` ⚠ ${r.errors.length}/${r.runs} runs failed` : '';
      // A row measured in fewer repetitions than its table's (a `once` row: the first repetition only).
      const runs = r.runs < most ? ` (${r.runs} run${r.runs > 1 ? 's' : ''})` : '';
      fewer ||= runs !== '';
      out.push(
        `| ${r.label}${runs}${err} | ${r.system === 'ceiling' ? '—' : BROKER_LABEL[r.broker]} | ${used.map((c) => cell(r.metrics[c.metric], c.metric)).join(' | ')} | ${vs.join('; ') || ''} |`,
      );
    }
    out.push('');
  }
  if (fewer) {
    out.push(
      'Rows marked "(1 run)" ran in the first repetition only: slow anchor rows that no goal of issue 19 reads, kept so the full run fits its time (`--all-reps` runs every row in every repetition).',
      '',
    );
  }
  return out.join('\n');
}

function fracCell(s: Summary | undefined): string {
  return s ? `${(s.median * 100).toFixed(1)} %` : '—';
}

export interface Goal {
  name: string;
  target: string;
  /** Finds the Celeriac value and the anchor rows to compare with. */
  workload: string;
  group?: string;
  metric: string;
  celeriacCase: RegExp;
  met: (v: number) => boolean;
}

export const GOALS: Goal[] = [
  {
    name: 'Feed hub N=5,000, async -c1000',
    target: '≥ 1,250 feeds/s',
    workload: 'feedhub',
    group: 'N=5000',
    metric: 'feeds_per_s',
    celeriacCase: /celeriac-async-1000$/,
    met: (v) => v >= 1250,
  },
  {
    name: 'Feed hub N=5,000: share of no-queue ceiling',
    target: '≥ 89 %',
    workload: 'feedhub',
    group: 'N=5000',
    metric: 'ceiling_frac',
    celeriacCase: /celeriac-async-1000$/,
    met: (v) => v >= 0.89,
  },
  {
    name: 'Feed hub N=5,000: queue overhead per task',
    target: '≤ 0.08 ms CPU',
    workload: 'feedhub',
    group: 'N=5000',
    metric: 'overhead_ms_per_feed',
    celeriacCase: /celeriac-async-1000$/,
    met: (v) => v <= 0.08,
  },
  {
    name: 'Feed hub N=5,000: prefork children running async',
    target: 'beats the single process',
    workload: 'feedhub',
    group: 'N=5000',
    metric: 'feeds_per_s',
    celeriacCase: /celeriac-prefork/,
    met: () => false,
  },
  {
    name: 'No-op drain with results stored',
    target: '≥ 17,000 tasks/s',
    workload: 'noop',
    metric: 'drain_per_s',
    celeriacCase: /celeriac-async/,
    met: (v) => v >= 17000,
  },
  {
    name: 'Enqueue one by one',
    target: '≥ 14,000 tasks/s',
    workload: 'noop',
    metric: 'enqueue_one_per_s',
    celeriacCase: /celeriac-async/,
    met: (v) => v >= 14000,
  },
  {
    name: 'Enqueue batched',
    target: '≥ 40,000 tasks/s',
    workload: 'noop',
    metric: 'enqueue_batch_per_s',
    celeriacCase: /celeriac-async/,
    met: (v) => v >= 40000,
  },
  {
    name: 'Round trip p50',
    target: '≤ 1 ms',
    workload: 'roundtrip',
    metric: 'p50_ms',
    celeriacCase: /celeriac-async/,
    met: (v) => v <= 1,
  },
  {
    name: 'Round trip p99',
    target: '≤ 3 ms',
    workload: 'roundtrip',
    metric: 'p99_ms',
    celeriacCase: /celeriac-async/,
    met: (v) => v <= 3,
  },
  {
    name: '10,000 in flight: worker RSS',
    target: '≤ 150 MB',
    workload: 'inflight',
    metric: 'peak_rss_mb',
    celeriacCase: /celeriac-async/,
    met: (v) => v <= 150,
  },
];

const SYSTEM_LABEL: Record<string, string> = { celery: 'Celery', bullmq: 'BullMQ', celeriac: 'Celeriac' };

/** Anchor values for a goal: per row, except enqueue rates, which belong to the client (one per system). */
function anchorValues(rows: readonly Row[], metric: string): { label: string; value: number }[] {
  const anchors = rows.filter(
    (r) => (r.system === 'celery' || r.system === 'bullmq') && r.metrics[metric]?.n,
  );
  if (!metric.startsWith('enqueue')) {
    return anchors.map((r) => ({ label: r.label, value: r.metrics[metric]!.median }));
  }
  const out: { label: string; value: number }[] = [];
  for (const sys of ['celery', 'bullmq']) {
    const vals = anchors.filter((r) => r.system === sys).map((r) => r.metrics[metric]!.median);
    if (vals.length) out.push({ label: SYSTEM_LABEL[sys]!, value: median(vals) });
  }
  return out;
}

/** The unit a measure is shown in, from its target ("≥ 1,250 feeds/s" → "feeds/s"). */
function unitOf(g: Goal): string {
  if (g.metric === 'feeds_per_s') return 'feeds/s';
  return g.target.replace(/^[≥≤]\s*[\d,.]+\s*/, '');
}

function goalsTable(rows: Row[]): string {
  const out = [
    '| measure | Celeriac (median) | each anchor → Celeriac vs it (>1 = Celeriac better) |',
    '|---|---:|---|',
  ];
  for (const g of GOALS) {
    // The goals are Redis's (the issue's setting); the other brokers have their own rows in the tables.
    const rs = rows.filter(
      (r) => r.workload === g.workload && (!g.group || r.group === g.group) && r.broker === 'redis',
    );
    const c = rs.find((r) => r.system === 'celeriac' && g.celeriacCase.test(r.case));
    // (The targets and `met` are the project's own yardstick, kept with GOALS; the report shows measurements.)
    // Enqueue rates belong to the client, not the worker configuration: one value per system.
    const v = g.metric.startsWith('enqueue')
      ? median(
          rs
            .filter((r) => r.system === 'celeriac' && r.metrics[g.metric]?.n)
            .map((r) => r.metrics[g.metric]!.median),
        )
      : c?.metrics[g.metric]?.median;
    const measured = v !== undefined && Number.isFinite(v);
    const anchors = measured ? anchorValues(rs, g.metric) : [];
    const cells = anchors.map((a) => {
      const shownA = g.metric.endsWith('frac') ? `${(a.value * 100).toFixed(1)} %` : fmt(a.value);
      // A ratio of two differences near zero (queue overhead) says nothing: show it only when both are positive.
      const r = v! > 0 && a.value > 0 ? `${ratio(g.metric, v!, a.value).toFixed(2)}×` : 'n/a';
      return `${a.label}: ${shownA} → ${r}`;
    });
    const shown =
      v === undefined || !Number.isFinite(v)
        ? 'not measured'
        : g.metric.endsWith('frac')
          ? fracCell(c?.metrics[g.metric])
          : fmt(v);
    out.push(`| ${g.name} (${unitOf(g)}) | ${shown} | ${cells.join('; ') || '—'} |`);
  }
  return out.join('\n');
}

/** `records` (the runs behind `rows`) pair the repetitions of the before/after table of a `--baseline` run. */
export function renderReport(
  meta: Meta,
  rows: Row[],
  notes: string[],
  records: readonly RunRecord[] = [],
): string {
  const workloads: [string, string, string][] = [
    [
      'feedhub',
      'Feed hub',
      "Each task fetches one feed (RSS or Atom, 20 items, ~10 KB) from a local farm that answers after 100 ms, over keep-alive HTTP, parses it and returns its summary. feeds/s = N / wall time from the first enqueue to the last result. The no-queue ceiling is the same fetch + parse at the same concurrency with no queue (Node for Celeriac and BullMQ, Python eventlet for Celery); the latency ceiling is concurrency / latency (10,000/s at -c 1000). Queue overhead = worker CPU per feed − the ceiling's CPU per feed. Worker CPU and RSS cover the whole worker process tree.",
    ],
    [
      'noop',
      'No-op throughput',
      "Enqueue with no worker running, each call awaited (one by one) or with the client's batched form (1000 per call); then the worker drains the loaded queue, storing every result. The drain rate is (N − 1) / (last − first completion time) read back from the result backend.",
    ],
    [
      'roundtrip',
      'Round-trip latency',
      "Sequential publish + wait for the result on an idle worker, with each system's own client and result wait (pub/sub for Celery and Celeriac, QueueEvents for BullMQ); 20 warm-up calls not counted.",
    ],
    [
      'inflight',
      'In-flight scale',
      'N tasks that each await a 1 s timer, on one worker with -c N. Wall time from the first enqueue to the last result; peak RSS of the worker.',
    ],
  ];
  const v = meta.versions;
  const out: string[] = [];
  out.push('# Benchmarks', '');
  out.push(
    'Celeriac measured side by side with Python Celery 5.2 (eventlet, gevent and prefork pools) and BullMQ, each with its own client and worker, on the same machine, brokers and workloads: a feed hub (I/O-bound tasks fetching and parsing feeds), no-op throughput (enqueue and drain), round-trip latency and many tasks in flight at once. Each section says what its numbers mean; the machine and how to reproduce the run follow.',
    '',
  );
  out.push(
    `Generated by \`${meta.command}\` on ${meta.date} (${(meta.durationS / 60).toFixed(1)} min, ${meta.reps} repetition${meta.reps > 1 ? 's' : ''} per case; each cell is the median with the min–max range).${meta.filters ? ` Filters: ${meta.filters}.` : ''}`,
  );
  out.push('', '![benchmark chart](benchmarks.svg)', '');
  out.push(issue19Goals(rows));
  out.push('## How to run', '');
  out.push(
    '```sh',
    'npm run bench                      # everything: 3 repetitions (about 30 min on 2 cores; bench/README.md, "Duration")',
    'npm run bench -- --plan            # the cases and an estimate of the time, measuring nothing',
    'npm run bench -- --only feedhub,noop --systems celeriac,bullmq --reps 1',
    'npm run bench -- --brokers sqlite,amqp --only noop --reps 1   # the rows off Redis only',
    'npm run bench -- --smoke           # tiny N: proves the harness works (CI), ~3 min',
    '```',
    '',
  );
  out.push(
    "The harness installs its anchors (`bench/anchors/setup.sh`: Debian's python3-celery, -eventlet, -gevent; npm's bullmq in the bench-only package `bench/anchors`), starts and stops every worker itself as a separate process, samples CPU and RSS of each worker's process tree from `/proc`, and runs every system in the same invocation, interleaved repetition by repetition. Raw numbers: `bench/results/<date>.json`.",
    '',
  );
  // Only for runs saved since brokers were a dimension (and the worker ran from dist/).
  if (meta.brokers) {
    out.push(
      "Brokers (the table's broker column): every system on Redis. Celeriac and Celery also on RabbitMQ, with results in Redis (the usual production pairing); Celeriac also on SQLite, broker and results in one file per case (its embedded default). Celery has no SQLite peer, so the SQLite rows are compared with the Redis anchors; BullMQ is Redis-only. Off Redis only each system's most informative configurations run (bench/README.md says which and why). The at-a-glance table is Redis's. Celeriac's workers run the compiled package (dist/, built at the start of the run).",
      '',
    );
  }
  out.push('## Machine', '');
  out.push(`| | |`, `|---|---|`);
  out.push(`| CPU | ${meta.machine.cpu}, \`nproc\` = ${meta.machine.nproc} |`);
  out.push(`| RAM | ${meta.machine.ramGiB} GiB |`, `| OS | ${meta.machine.os} |`);
  out.push(
    `| load average (1, 5, 15 min) before / after | ${meta.machine.loadBefore} / ${meta.machine.loadAfter} |`,
  );
  out.push(`| Redis (broker and results) | Redis ${v.redis ?? '?'} at \`${meta.redisUrl}\` |`);
  const brokers = meta.brokers ?? ['redis'];
  if (brokers.includes('amqp')) {
    out.push(
      `| RabbitMQ rows | ${v.rabbitmq ?? '?'} at \`${meta.amqpUrl ?? '?'}\`, results in the Redis above |`,
    );
  }
  if (brokers.includes('sqlite')) {
    out.push(
      `| SQLite rows (Celeriac only) | ${v.sqlite ?? '?'}: one file per case, broker and results in it |`,
    );
  }
  out.push(`| Celeriac | ${v.celeriac ?? '?'} on Node ${v.node ?? '?'} |`);
  if (meta.baseline) {
    out.push(
      `| Celeriac baseline (\`celeriac-base\`) | ${v['celeriac-base'] ?? '?'}: \`--baseline ${meta.baseline.ref}\`, "${meta.baseline.subject}" |`,
    );
  }
  out.push(`| Celery anchor | ${v.celery ?? '?'} on Python ${v.python ?? '?'} (Debian) |`);
  out.push(`| BullMQ anchor | ${v.bullmq ?? '?'} on Node ${v.node ?? '?'} |`);
  out.push('');
  if (notes.length) out.push('## Notes on this run', '', ...notes.map((n) => `- ${n}`), '');
  if (meta.baseline) out.push(beforeAfterTable(meta, beforeAfter(rows, records), workloads));
  out.push(
    '## At a glance (on Redis)',
    '',
    'The headline measures of the tables below, with every anchor that ran the same workload.',
    '',
    goalsTable(rows),
    '',
  );
  for (const [id, title, desc] of workloads) {
    if (!rows.some((r) => r.workload === id)) continue;
    out.push(`## ${title}`, '', desc, '', table(rows, id));
  }
  out.push(
    '## Other benchmarks',
    '',
    '- [benchmarks-feedhub-sqlite.md](benchmarks-feedhub-sqlite.md): the feed hub on the embedded SQLite default, `async -c 1000` against `solo` (`npm run feedhub -- --compare`).',
    '- [benchmarks-pools.md](benchmarks-pools.md): CPU-bound and I/O-bound tasks on `async`, `prefork -c 2` and a mixed worker (`npx tsx bench/pools.ts`).',
    '',
  );
  const skipped = rows.filter((r) => r.skipped);
  if (skipped.length) {
    out.push('## Not measured in this checkout', '');
    for (const r of skipped) out.push(`- ${rowName(r)} (${r.group}): ${r.skipped}`);
    out.push('');
  }
  const errs = rows.filter((r) => r.errors.length);
  if (errs.length) {
    out.push('## Failed runs', '');
    for (const r of errs) {
      out.push(`- ${rowName(r)} (${r.case}): ${r.errors[0]!.split('\n')[0]!.slice(0, 300)}`);
    }
    out.push('');
  }
  return out.join('\n');
}
