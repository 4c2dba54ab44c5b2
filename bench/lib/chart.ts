/**
 * docs/benchmarks.svg: hand-written horizontal bar charts, one panel per headline number, one bar per
 * system configuration and broker (medians), coloured by system; bars off Redis name their broker. No
 * dependencies.
 */
import { fmt, type Row, rowName } from './report.js';
import { median } from './stats.js';
import { BROKER_IDS, BROKER_LABEL } from './systems.js';

const COLORS: Record<string, string> = {
  celeriac: '#2b8a3e',
  'celeriac-base': '#8ce99a', // --baseline: the same Celeriac from another commit
  celery: '#1864ab',
  bullmq: '#d9480f',
  ceiling: '#868e96',
};

interface Bar {
  label: string;
  value: number;
  system: string;
}

interface Panel {
  title: string;
  bars: Bar[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function panel(rows: readonly Row[], workload: string, metric: string, title: string, group?: string): Panel {
  const bars = rows
    .filter((r) => r.workload === workload && (!group || r.group === group))
    .map((r) => ({ label: rowName(r), value: r.metrics[metric]?.median ?? Number.NaN, system: r.system }))
    .filter((b) => Number.isFinite(b.value));
  return { title, bars };
}

/**
 * One bar per system and broker, the median over its configurations (the client's enqueue rate depends on
 * the broker, not on the worker).
 */
function perSystem(rows: readonly Row[], metric: string, title: string): Panel {
  const bars: Bar[] = [];
  for (const broker of BROKER_IDS) {
    for (const sys of ['celeriac', 'celery', 'bullmq']) {
      const vals = rows
        .filter((r) => r.workload === 'noop' && r.system === sys && r.broker === broker)
        .map((r) => r.metrics[metric]?.median)
        .filter((v): v is number => v !== undefined && Number.isFinite(v));
      if (vals.length) {
        const name = { celeriac: 'Celeriac', celery: 'Celery', bullmq: 'BullMQ' }[sys]!;
        const label = broker === 'redis' ? name : `${name} on ${BROKER_LABEL[broker]}`;
        bars.push({ label, value: median(vals), system: sys });
      }
    }
  }
  return { title, bars };
}

export function renderChart(rows: readonly Row[], subtitle: string): string {
  const feedGroups = [...new Set(rows.filter((r) => r.workload === 'feedhub').map((r) => r.group))];
  const bigFeeds = feedGroups[feedGroups.length - 1];
  const n = rows.find((r) => r.workload === 'inflight')?.group ?? '';
  const panels = [
    bigFeeds
      ? panel(rows, 'feedhub', 'feeds_per_s', `Feed hub ${bigFeeds}: feeds/s (higher is better)`, bigFeeds)
      : null,
    panel(rows, 'noop', 'drain_per_s', 'No-op drain with results stored: tasks/s (higher is better)'),
    perSystem(rows, 'enqueue_one_per_s', 'Enqueue one by one: tasks/s (higher is better)'),
    perSystem(rows, 'enqueue_batch_per_s', 'Enqueue batched: tasks/s (higher is better)'),
    panel(rows, 'roundtrip', 'p50_ms', 'Round trip p50: ms (lower is better)'),
    panel(rows, 'inflight', 'peak_rss_mb', `In flight, ${n}: worker peak RSS MB (lower is better)`),
  ].filter((p): p is Panel => p !== null && p.bars.length > 0);

  const W = 760;
  const LABEL = 290;
  const BAR_W = 370;
  const BH = 16;
  const GAP = 5;
  const parts: string[] = [];
  let y = 44;
  parts.push(
    `<text x="16" y="24" font-size="16" font-weight="bold">Celeriac vs Celery 5.2 and BullMQ (Redis unless named, medians)</text>`,
  );
  parts.push(`<text x="16" y="38" font-size="11" fill="#555">${esc(subtitle)}</text>`);
  for (const p of panels) {
    y += 18;
    parts.push(`<text x="16" y="${y}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    y += 8;
    const max = Math.max(...p.bars.map((b) => b.value));
    for (const b of p.bars) {
      const w = max > 0 ? Math.max(1, (b.value / max) * BAR_W) : 1;
      parts.push(
        `<text x="${LABEL - 6}" y="${y + BH - 4}" font-size="11" text-anchor="end">${esc(b.label)}</text>`,
        `<rect x="${LABEL}" y="${y}" width="${w.toFixed(1)}" height="${BH}" fill="${COLORS[b.system] ?? '#999'}"/>`,
        `<text x="${(LABEL + w + 4).toFixed(1)}" y="${y + BH - 4}" font-size="11">${esc(fmt(b.value))}</text>`,
      );
      y += BH + GAP;
    }
    y += 6;
  }
  y += 8;
  let x = 16;
  for (const [sys, label] of [
    ['celeriac', 'Celeriac'],
    ['celery', 'Celery 5.2'],
    ['bullmq', 'BullMQ'],
    ['ceiling', 'no queue (ceiling)'],
  ] as const) {
    parts.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[sys]}"/>`);
    parts.push(`<text x="${x + 16}" y="${y + 10}" font-size="11">${label}</text>`);
    x += 140;
  }
  y += 24;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="Helvetica, Arial, sans-serif" role="img" aria-labelledby="chart-title">
<title id="chart-title">Celeriac against Celery 5.2 and BullMQ on Redis, RabbitMQ and SQLite: throughput, latency and memory, medians</title>
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}
