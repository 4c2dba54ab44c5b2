/**
 * Turns the run records into docs/benchmarks.md: one table per workload (median and min-max over the
 * repetitions, a broker column, Redis rows first), ratios of each Celeriac row to the best anchor on a
 * comparable broker, the ceilings, and an "at a glance" table of the headline measures (on Redis) with
 * Celeriac's value and its ratio to each anchor. The report is for users: what was measured, against
 * what, on which machine, how to reproduce it; the old project targets (GOALS' `target`/`met`) stay out
 * of it. Issue 19's goals, which the issue asks to see in the report, open it (lib/goals.ts); the
 * hand-written sections are kept by run.ts (lib/handwritten.ts).
 *
 * This file owns the page (its sections, the machine table, the per-workload tables); the pieces it
 * assembles live beside it: rows from records (lib/aggregate.ts), what each metric means
 * (lib/measures.ts), the before/after table (lib/before-after.ts), the at-a-glance table (lib/glance.ts).
 */
import { aggregate, deriveRecords } from './aggregate.js';
import { type Baseline, BEFORE_AFTER, beforeAfter, beforeAfterTable } from './before-after.js';
import { baselineTwin, type RunRecord } from './context.js';
import { goalsTable } from './glance.js';
import { issue19Goals } from './goals.js';
import { anchorBroker, bestAnchor, COLUMNS, cell, lowerIsBetter, ratio, TITLES } from './measures.js';
import { fmt, type Row } from './rows.js';
import { BROKER_IDS, BROKER_LABEL } from './systems.js';

// Where run.ts, the chart and the tests have always imported these from (each lives in its own file).
export { aggregate, beforeAfter, deriveRecords, fmt, lowerIsBetter, type Row, ratio };

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
  baseline?: Baseline;
}

/** A row's name outside its table (chart, lists): the label, plus the broker when it is not Redis. */
export function rowName(r: Pick<Row, 'label' | 'broker'>): string {
  return r.broker === 'redis' ? r.label : `${r.label} on ${BROKER_LABEL[r.broker]}`;
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
      "Each task fetches one feed (RSS or Atom, 20 items, ~10 KB) from a local farm that answers after 100 ms, over keep-alive HTTP, parses it and returns its summary. feeds/s = N / wall time from the first enqueue to the last result, after 2,000 unmeasured warm-up feeds on every system and both ceilings. The no-queue ceiling is the same fetch + parse at the same concurrency with no queue (Node for Celeriac and BullMQ, running the same task code, bench/anchors/feed.mjs; Python eventlet for Celery); the latency ceiling is concurrency / latency (10,000/s at -c 1000). Queue overhead = worker CPU per feed − the ceiling's CPU per feed. Worker CPU and RSS cover the whole worker process tree; the Redis server's CPU over the same window (INFO cpu: the worker's and the driver's commands, and the Lua scripts they run inside Redis) is its own column.",
    ],
    [
      'noop',
      'No-op throughput',
      "Enqueue with no worker running, each call awaited (one by one) or with the client's batched form (1000 per call); then the worker drains the loaded queue, storing every result. For the Node systems (Celeriac, BullMQ) the queue holds 20,000 unmeasured warm-up tasks ahead of the N (a Node worker speeds up over its first ~15,000 tasks as V8 optimizes its hot path; Celery's CPython has no such start-up). The drain rate is (N − 1) / (last − first completion time) of the N, read back from the result backend. Worker CPU covers the whole drain, per task over every task run, warm-up included; the Redis server's CPU over the same window is its own column.",
    ],
    [
      'roundtrip',
      'Round-trip latency',
      "Sequential publish + wait for the result on an idle worker, with each system's own client and result wait (pub/sub for Celery and Celeriac, QueueEvents for BullMQ); 2,000 warm-up calls not counted (a Node client and worker reach their steady speed over the first ~1,500: bench/workloads/roundtrip.ts).",
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
  if (meta.baseline) out.push(beforeAfterTable(meta.baseline, beforeAfter(rows, records), workloads));
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
