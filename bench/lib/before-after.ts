/**
 * The `--baseline` comparison: each Celeriac row's metrics against its `celeriac-base` twin (the same
 * case run from the baseline commit's build), paired within each repetition, and the report's
 * "Before / after" table of them.
 */
import { baselineTwin, type RunRecord } from './context.js';
import { cell, lowerIsBetter, TITLES } from './measures.js';
import type { Row } from './rows.js';
import { type Summary, summarize } from './stats.js';
import { BROKER_LABEL, type BrokerId } from './systems.js';

/** `--baseline <ref>`: the commit the `celeriac-base` rows ran from. */
export interface Baseline {
  ref: string;
  sha: string;
  short: string;
  subject: string;
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

export function beforeAfterTable(
  b: Baseline,
  pairs: readonly Pair[],
  workloads: [string, string, string][],
): string {
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
