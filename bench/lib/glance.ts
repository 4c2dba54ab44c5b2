/**
 * The report's "At a glance (on Redis)" table: the headline measures (GOALS), Celeriac's value of each
 * and its ratio to every anchor that ran the same workload. The targets and `met` of GOALS are the
 * project's own yardstick, kept here with them; the table shows only measurements.
 */
import { ratio, SYSTEM_LABEL } from './measures.js';
import { fmt, type Row } from './rows.js';
import { median, type Summary } from './stats.js';

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

export function goalsTable(rows: Row[]): string {
  const out = [
    '| measure | Celeriac (median) | each anchor → Celeriac vs it (>1 = Celeriac better) |',
    '|---|---:|---|',
  ];
  for (const g of GOALS) {
    // The goals are Redis's (the setting); the other brokers have their own rows in the tables.
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
