/**
 * The one benchmark command: `npm run bench` (full run, 3 repetitions, about 30 minutes on 2 cores; see
 * bench/README.md, "Duration") or `npm run bench -- --smoke` (tiny N, proves the harness works; what CI runs).
 *
 * Options:
 *   --smoke                 tiny sizes; writes the report to bench/results/tmp/ instead of docs/
 *   --only feedhub,noop     workloads to run (feedhub, noop, roundtrip, inflight)
 *   --systems celeriac,bullmq   systems to run (celeriac, celery, bullmq, ceiling; celeriac-base with --baseline)
 *   --baseline main~3       also run Celeriac built from that git ref (system celeriac-base, in a worktree
 *                           under bench/results/tmp/.baseline/), interleaved with this tree's: before/after
 *   --brokers redis,amqp    brokers to run on (redis, amqp, sqlite; default all three)
 *   --cases 'async-100(---tracing.*)?$'   only the cases whose id (`noop-20000/celeriac-async-100…`, as
 *                           logged) matches this regular expression, e.g. the observability pair
 *   --reps 3                repetitions per case (median and min-max are reported)
 *   --report docs/benchmarks.md   where the markdown goes (the SVG chart goes next to it)
 *   --render results.json   rewrite the report and chart from a saved run, measuring nothing
 *   --profile               write V8 CPU profiles of the Node workers (Celeriac, BullMQ) to bench/results/tmp/profiles/
 *   --all-reps              run every case in every repetition (by default a few slow anchor rows that no
 *                           goal reads run in the first one only: WorkerConfig.once)
 *   --feed-sizes 1000,5000  the feed hub's N (default 5000, issue 19's row)
 *   --plan                  list the cases of each repetition and an estimate of the run's time (from the
 *                           newest saved run's per-case seconds), then exit without measuring
 *
 * It builds dist/ (Celeriac's workers run compiled code, as in production), installs the anchors
 * (bench/anchors/setup.sh), starts and stops every worker itself, samples each worker's CPU and RSS from
 * /proc, interleaves the systems repetition by repetition, and writes bench/results/<date>.json plus the
 * report and chart. A case that fails is recorded and the run goes on.
 * Redis: BENCH_REDIS_URL (default redis://127.0.0.1:6379/13); no key outside the bench's queues is touched.
 * RabbitMQ: BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672//); each case's queue (and its
 * exchange) is deleted after it. SQLite: one file per case in bench/results/tmp/, deleted after it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { type Baseline, harnessDiff, prepareBaseline } from './lib/baseline.js';
import {
  type BenchContext,
  type FeedFarm,
  type RunRecord,
  repOrder,
  runsIn,
  type SystemOrCeiling,
  startFeedFarm,
  uniqueQueue,
  type Workload,
} from './lib/context.js';
import { collectVersions, describeMachine, loadAverage, reachable } from './lib/environment.js';
import { renderPlan, savedTimings } from './lib/plan.js';
import { capture, installCleanup } from './lib/proc.js';
import type { Meta } from './lib/report.js';
import { runCase } from './lib/run-case.js';
import {
  ALL_SYSTEM_IDS,
  BROKER_IDS,
  type BrokerId,
  ROOT,
  SYSTEM_IDS,
  SYSTEMS,
  setBaseline,
} from './lib/systems.js';
import { loadNote, writeReport } from './lib/write-report.js';
import { DEFAULT_FEED_SIZES, FEED_LATENCY_MS, feedhub, MAX_FEEDS } from './workloads/feedhub.js';
import { inflight } from './workloads/inflight.js';
import { noop } from './workloads/noop.js';
import { roundtrip } from './workloads/roundtrip.js';

const WORKLOADS: Workload[] = [feedhub, noop, roundtrip, inflight];

const { values: opts } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    systems: { type: 'string' },
    brokers: { type: 'string' },
    reps: { type: 'string' },
    report: { type: 'string' },
    profile: { type: 'boolean', default: false },
    render: { type: 'string' },
    baseline: { type: 'string' },
    'all-reps': { type: 'boolean', default: false },
    'feed-sizes': { type: 'string' },
    plan: { type: 'boolean', default: false },
    cases: { type: 'string' },
  },
});

// --render results.json: rewrite the report and chart from a saved run (no measurement).
if (opts.render) {
  const saved = JSON.parse(readFileSync(opts.render, 'utf8')) as {
    meta: Meta;
    records: RunRecord[];
    notes?: string[];
  };
  const notes = saved.notes ?? [loadNote(saved.meta)];
  if (process.env.BENCH_NOTE) notes.unshift(process.env.BENCH_NOTE);
  const reportPath = opts.report ?? join(ROOT, 'docs', 'benchmarks.md');
  const svgPath = writeReport(saved.meta, saved.records, notes, reportPath);
  process.stderr.write(
    `wrote ${relative(ROOT, reportPath)} and ${relative(ROOT, svgPath)} from ${opts.render}\n`,
  );
  process.exit(0);
}

const smoke = opts.smoke ?? false;
const reps = Number(opts.reps ?? (smoke ? 1 : 3));
const only = opts.only ? new Set(opts.only.split(',')) : null;
const wanted = new Set<SystemOrCeiling>(
  (opts.systems?.split(',') ?? [...SYSTEM_IDS, 'ceiling']) as SystemOrCeiling[],
);
const brokers = new Set<BrokerId>((opts.brokers?.split(',') ?? BROKER_IDS) as BrokerId[]);
const feedSizes = opts['feed-sizes']?.split(',').map(Number) ?? [...DEFAULT_FEED_SIZES];
const allReps = opts['all-reps'] ?? false;
const caseFilter = opts.cases ? new RegExp(opts.cases) : null;
const caseWanted = (id: string) => !caseFilter || caseFilter.test(id);
const badSizes = feedSizes.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_FEEDS);
const unknownW = [...(only ?? [])].filter((w) => !WORKLOADS.some((x) => x.name === w));
const unknownS = [...wanted].filter((s) => s !== 'ceiling' && !ALL_SYSTEM_IDS.includes(s as never));
const unknownB = [...brokers].filter((b) => !BROKER_IDS.includes(b));
const baseWithout = wanted.has('celeriac-base') && !opts.baseline;
if (unknownW.length || unknownS.length || unknownB.length || !(reps >= 1) || baseWithout || badSizes) {
  console.error(
    `usage: npm run bench -- [--smoke] [--only ${WORKLOADS.map((w) => w.name).join(',')}] [--systems ${SYSTEM_IDS.join(',')},ceiling[,celeriac-base]] [--brokers ${BROKER_IDS.join(',')}] [--reps N] [--baseline <git-ref>] [--all-reps] [--feed-sizes 1000,5000] [--cases <regexp of case ids>] [--plan]` +
      (badSizes ? `\n--feed-sizes takes whole numbers from 1 to ${MAX_FEEDS}` : '') +
      (unknownW.length ? `\nunknown workload: ${unknownW.join(', ')}` : '') +
      (unknownS.length ? `\nunknown system: ${unknownS.join(', ')}` : '') +
      (unknownB.length ? `\nunknown broker: ${unknownB.join(', ')}` : '') +
      (baseWithout ? '\nthe system celeriac-base needs --baseline <git-ref>' : ''),
  );
  process.exit(2);
}
// --baseline is there to compare: its system runs even when --systems does not name it.
if (opts.baseline) wanted.add('celeriac-base');

// --plan: the cases and an estimate of the time, from the saved runs' per-case seconds; nothing runs.
if (opts.plan) {
  const planCtx = { smoke, rep: 1, feedSizes, systems: wanted, brokers } as unknown as BenchContext;
  const planned = WORKLOADS.filter((w) => !only || only.has(w.name))
    .flatMap((w) => w.cases(planCtx))
    .filter((c) => caseWanted(c.id));
  const results = join(ROOT, 'bench', 'results');
  console.log(renderPlan(planned, reps, allReps, savedTimings([results, join(results, 'tmp')])));
  process.exit(0);
}

const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/13';
process.env.BENCH_REDIS_URL = redisUrl;
const amqpUrl = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';
const tmp = join(ROOT, 'bench', 'results', 'tmp');
mkdirSync(tmp, { recursive: true });
if (opts.profile) {
  process.env.BENCH_CPU_PROF = join(tmp, 'profiles');
  mkdirSync(process.env.BENCH_CPU_PROF, { recursive: true });
}
const started = Date.now();
installCleanup();
const log = (msg: string) =>
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}\n`);

// Celeriac's workers run the compiled package (bench/celeriac/tasks.mjs imports `celeriac`, i.e. dist/).
// Always a clean build of this tree, so no dist/ left by another tree or an older edit is measured; and
// CELERIAC_CLI=dist makes bin/celeriac.js run it (or fail) instead of guessing.
log('building dist/ (npm run build)');
rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
process.env.CELERIAC_CLI = 'dist';

// Only when an anchor runs (Celery, BullMQ, or the ceilings, whose Python side needs eventlet): a run of
// Celeriac alone (e.g. before/after a change) installs nothing.
if (['celery', 'bullmq', 'ceiling'].some((s) => wanted.has(s as SystemOrCeiling))) {
  log('installing anchors if missing (bench/anchors/setup.sh)');
  execFileSync('bash', [join(ROOT, 'bench/anchors/setup.sh')], { stdio: 'inherit' });
}

const notes: string[] = [];
// --baseline: the ref checked out and built in its own worktree (after the anchors, whose node_modules it
// links), measured as the system celeriac-base beside this tree's celeriac.
let baseline: Baseline | null = null;
if (opts.baseline) {
  try {
    baseline = prepareBaseline(ROOT, opts.baseline, log);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
  setBaseline(baseline);
  const differ = harnessDiff(ROOT, baseline.sha);
  if (differ.length) {
    notes.push(
      `The baseline ${baseline.short} ran its own client and task code, which differs from this tree's in ${differ.map((f) => `\`${f}\``).join(', ')}: part of a difference may be the harness's, not the library's.`,
    );
  }
}
const dirty = (await capture('git', ['status', '--porcelain', '--', 'src', 'bin', 'examples', 'bench'], ROOT))
  .split('\n')
  .filter((l) => l && !l.includes('bench/results/'));
if (process.env.BENCH_NOTE) notes.push(process.env.BENCH_NOTE);
if (dirty.length) {
  notes.push(
    `Measured on a working tree with uncommitted changes: ${dirty.map((l) => `\`${l.trim().replace(/^\S+\s+/, '')}\``).join(', ')}.`,
  );
}
if ((await capture('redis-cli', ['-u', redisUrl, 'ping'])) !== 'PONG') {
  console.error(`Redis is not answering at ${redisUrl}`);
  process.exit(1);
}
if (brokers.has('amqp') && !(await reachable(amqpUrl))) {
  const why = `RabbitMQ is not answering at ${new URL(amqpUrl).host}`;
  notes.push(`RabbitMQ rows skipped: ${why}.`);
  log(`skipping amqp: ${why}`);
  brokers.delete('amqp');
}
const systems = new Set<SystemOrCeiling>();
for (const s of wanted) {
  if (s === 'ceiling') {
    systems.add(s);
    continue;
  }
  const why = await SYSTEMS[s].check();
  if (why) {
    notes.push(`${SYSTEMS[s].label} skipped: ${why}.`);
    log(`skipping ${s}: ${why}`);
  } else systems.add(s);
}

let farm: (FeedFarm & { close(): Promise<void> }) | null = null;
let farmStarting: Promise<FeedFarm & { close(): Promise<void> }> | null = null;
const ctx: BenchContext = {
  smoke,
  rep: 0,
  feedSizes,
  systems,
  brokers,
  tmp,
  redisUrl,
  amqpUrl,
  log,
  feeds: () => {
    farmStarting ??= startFeedFarm(feedhub.maxFeeds(smoke, feedSizes), FEED_LATENCY_MS, tmp).then((f) => {
      farm = f;
      return f;
    });
    return farmStarting;
  },
  queue: uniqueQueue,
};

const loadBefore = loadAverage();
const records: RunRecord[] = [];
// After every case, the records so far in results/tmp/partial-<pid>.json: an interrupted run can still be
// reported (`--render` it; its meta is the start's, without the versions); removed when the run ends.
const partialPath = join(tmp, `partial-${process.pid}.json`);
const startMeta = {
  date: new Date(started).toISOString(),
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''} (interrupted)`,
  reps,
  smoke,
  filters: '',
  machine: {
    nproc: String(cpus().length),
    cpu: cpus()[0]?.model ?? '?',
    ramGiB: (totalmem() / 2 ** 30).toFixed(1),
    os: 'Linux',
    loadBefore,
    loadAfter: '?',
  },
  versions: { node: process.versions.node },
  redisUrl,
  brokers: [...brokers],
};
function savePartial(): void {
  const meta = { ...startMeta, durationS: (Date.now() - started) / 1000 };
  writeFileSync(partialPath, `${JSON.stringify({ meta, notes, records })}\n`);
}
const workloads = WORKLOADS.filter((w) => !only || only.has(w.name));
const cases = workloads
  .flatMap((w) => w.cases(ctx).map((c) => ({ w, c })))
  .filter(({ c }) => caseWanted(c.id));
const once = cases.filter(({ c }) => !runsIn(c, 2, allReps)).length;
log(
  `${cases.length} cases × ${reps} repetition(s)${once && reps > 1 ? `, ${once} of them in the first only (--all-reps: every one)` : ''}`,
);
try {
  for (let rep = 1; rep <= reps; rep++) {
    ctx.rep = rep;
    // Each Celeriac case beside its baseline twin, the two swapping places every other repetition.
    for (const { w, c } of repOrder(
      cases.map((x) => ({ ...x, id: x.c.id })),
      rep,
    )) {
      if (!runsIn(c, rep, allReps)) continue;
      log(`rep ${rep}/${reps} ${w.name} ${c.group}: ${c.label} (${c.broker})`);
      records.push(await runCase(w, c, ctx, rep));
      savePartial();
    }
  }
} finally {
  await (farm as (FeedFarm & { close(): Promise<void> }) | null)?.close();
}

// What ran, where, with which versions.
const versions = await collectVersions(brokers, redisUrl, amqpUrl, baseline !== null);
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const date = new Date().toISOString();
const durationS = (Date.now() - started) / 1000;
const meta: Meta = {
  date,
  command,
  durationS,
  reps,
  smoke,
  filters: [
    only ? `--only ${[...only].join(',')}` : '',
    opts.systems ? `--systems ${opts.systems}` : '',
    opts.brokers ? `--brokers ${opts.brokers}` : '',
    baseline ? `--baseline ${baseline.ref}` : '',
    opts['feed-sizes'] ? `--feed-sizes ${opts['feed-sizes']}` : '',
    allReps ? '--all-reps' : '',
    opts.cases ? `--cases '${opts.cases}'` : '',
  ]
    .filter(Boolean)
    .join(' '),
  machine: await describeMachine(loadBefore),
  versions,
  redisUrl,
  amqpUrl: brokers.has('amqp') ? amqpUrl.replace(/\/\/[^@/]*@/, '//') : undefined,
  brokers: [...brokers],
  ...(baseline
    ? { baseline: { ref: baseline.ref, sha: baseline.sha, short: baseline.short, subject: baseline.subject } }
    : {}),
};

const stamp = date.replace(/[:.]/g, '-').slice(0, 19);
// Only runs that write docs/benchmarks.md keep their raw numbers in bench/results/ (committed); a smoke run
// or a scratch run with its own --report keeps them in the ignored tmp/ folder.
const resultsPath =
  smoke || opts.report
    ? join(tmp, `${smoke ? 'smoke' : 'run'}-${stamp}.json`)
    : join(ROOT, 'bench', 'results', `${stamp}.json`);
notes.push(loadNote(meta));
writeFileSync(resultsPath, `${JSON.stringify({ meta, notes, records }, null, 1)}\n`);
const reportPath =
  opts.report ?? (smoke ? join(tmp, 'benchmarks-smoke.md') : join(ROOT, 'docs', 'benchmarks.md'));
const svgPath = writeReport(meta, records, notes, reportPath);
const failed = records.filter((r) => r.error).length;
rmSync(partialPath, { force: true });
log(`wrote ${relative(ROOT, resultsPath)}, ${relative(ROOT, reportPath)}, ${relative(ROOT, svgPath)}`);
log(`${records.length - failed} runs ok, ${failed} failed`);
process.exit(smoke && failed > 0 ? 1 : 0);
