/**
 * The feed hub, end to end on one machine: a local feed farm, a worker, and a producer that enqueues N
 * `feeds.fetch` tasks and waits for every summary.
 *
 *   npx tsx examples/feedhub/run.ts                      # 2000 feeds, -P async -c 1000, child worker, SQLite
 *   npx tsx examples/feedhub/run.ts --compare            # then 100 feeds on -P solo, side by side
 *   npx tsx examples/feedhub/run.ts --worker inproc --broker memory://
 *
 * Flags: --feeds N (2000) --concurrency C (1000) --pool P (async) --latency MS (100) --broker URL
 * (default: an SQLite file in a temp dir) --backend URL (default: the broker) --worker child|inproc (child) --workers N (1: child worker processes, -c each) --batch B (500) --compare
 * --solo-feeds N (100) --warmup N (feeds fetched before the clock starts; default: the concurrency, 5 for
 * solo; 0 for a cold start) --json (one JSON line per run on stdout).
 *
 * Measured: feeds/s = feeds / (last result seen − first enqueue); task latency = worker finish − enqueue
 * (both Date.now() on this machine, so result polling does not blur it). Every summary is checked against
 * what the feed server generated.
 */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  fmt,
  type Progress,
  percentile,
  procCpuSeconds,
  progress,
  resolveBroker,
  startChildWorker,
  stopChild,
} from '../lib/cli.js';
import { describeFeed, startFeedServer } from './server.js';
import { createFeedHub, type FeedResult } from './tasks.js';

export interface RunOptions {
  feeds: number;
  pool: string;
  concurrency: number;
  broker: string;
  /** Result backend URL. @defaultValue the broker URL */
  backend?: string;
  /** Run the worker in this process or as `celeriac worker` in a child process. */
  worker: 'inproc' | 'child';
  /** Child worker processes, each with `concurrency` slots (child mode; solo always uses one). @defaultValue 1 */
  workers?: number;
  batch: number;
  feedUrl(i: number): string;
  /** Items per feed the server renders (for verification). @defaultValue 20 */
  items?: number;
  /** Feeds fetched (and awaited) before the clock starts: opens the sockets and warms the JIT. @defaultValue 0 */
  warmup?: number;
  /** Seconds to wait for all results. @defaultValue 300 */
  waitSeconds?: number;
  quiet?: boolean;
}

export interface RunResult {
  pool: string;
  concurrency: number;
  /** Worker processes (1 when in-process). */
  workers: number;
  feeds: number;
  seconds: number;
  feedsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Seconds the untimed warm-up took, if any. */
  warmupSeconds: number | null;
  /** Summaries identical to what the server generated. */
  verified: number;
  /** Times the worker reported its event loop saturated (it logs that at most once a minute). */
  saturated: number;
  /** CPU seconds the worker used (user + system), when measurable. */
  workerCpuSeconds: number | null;
  /** CPU seconds of this process (producer, result waits, feed server; plus the worker when in-process). */
  mainCpuSeconds: number;
  firstError: string | null;
}

let runCounter = 0;

/** One measured run: start a worker, enqueue `feeds` fetches in batches, wait for every result. */
export async function runFeedHub(o: RunOptions): Promise<RunResult> {
  const queue = `feedhub.${process.pid}.${++runCounter}`;
  const hub = createFeedHub({ broker: o.broker, backend: o.backend ?? o.broker });
  const children: ChildProcess[] = [];
  let saturated = 0;
  const worker =
    o.worker === 'inproc'
      ? hub.app.worker({ pool: o.pool, concurrency: o.concurrency, queues: [queue] })
      : null;
  if (worker) await worker.start();
  else {
    const n = o.pool === 'solo' ? 1 : (o.workers ?? 1);
    for (let k = 0; k < n; k++) {
      children.push(
        await startChildWorker({
          app: 'examples/feedhub/tasks.ts',
          pool: o.pool,
          concurrency: o.concurrency,
          queue,
          broker: o.broker,
          backend: o.backend ?? o.broker,
          quiet: o.quiet ?? false,
          // The loop monitor's "CPU-bound" warning: counted and explained in the summary instead.
          onLog: (line) => {
            if (!/the worker is CPU-bound/.test(line)) return false;
            saturated++;
            return true;
          },
        }),
      );
    }
  }
  const childCpu = (): number | null => {
    let sum = 0;
    for (const c of children) {
      const v = c.pid ? procCpuSeconds(c.pid) : null;
      if (v === null) return null;
      sum += v;
    }
    return children.length ? sum : null;
  };
  let cpu0 = process.cpuUsage();
  let childCpu0 = childCpu();

  // Expected summaries, computed before the clock starts so checking costs nothing inside the window.
  const expected = Array.from({ length: o.feeds }, (_, i) => describeFeed(i, o.items));
  let bar: Progress | null = null;
  const latencies: number[] = [];
  let errors = 0;
  let verified = 0;
  let firstError: string | null = null;
  let lastSeen = 0;
  const waits: Promise<void>[] = [];
  let workerCpuSeconds: number | null = null;
  let mainCpuSeconds = 0;
  let warmupSeconds: number | null = null;
  let t0 = Date.now();
  try {
    if (o.warmup) {
      const handles = await hub.fetchFeedTask.applyMany(
        Array.from({ length: o.warmup }, (_, k) => [o.feedUrl(k % o.feeds)]),
        { queue },
      );
      await Promise.allSettled(handles.map((r) => r.get({ timeout: o.waitSeconds ?? 300, interval: 0.05 })));
      warmupSeconds = (Date.now() - t0) / 1000;
      cpu0 = process.cpuUsage();
      childCpu0 = childCpu();
      t0 = Date.now();
    }
    if (!o.quiet) bar = progress(`${o.pool} -c ${o.concurrency}`, o.feeds);
    for (let start = 0; start < o.feeds; start += o.batch) {
      const ids = Array.from({ length: Math.min(o.batch, o.feeds - start) }, (_, k) => start + k);
      const enqueuedAt = Date.now();
      const handles = await hub.fetchFeedTask.applyMany(
        ids.map((i) => [o.feedUrl(i)]),
        { queue },
      );
      handles.forEach((r, k) => {
        const i = ids[k]!;
        waits.push(
          r.get({ timeout: o.waitSeconds ?? 300, interval: 0.05 }).then(
            (res: FeedResult) => {
              lastSeen = Date.now();
              latencies.push(res.doneAt - enqueuedAt);
              const want = expected[i]!;
              if (
                res.title === want.title &&
                res.items === want.items &&
                res.newest?.title === want.newest.title &&
                res.newest.link === want.newest.link &&
                res.newest.date === want.newest.date
              ) {
                verified++;
              }
              bar?.tick();
            },
            (err: Error) => {
              lastSeen = Date.now();
              errors++;
              firstError ??= `${err.name}: ${err.message}`;
              bar?.tick();
            },
          ),
        );
      });
    }
    await Promise.all(waits);
  } finally {
    bar?.done();
    const cpu = process.cpuUsage(cpu0);
    mainCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const childCpu1 = childCpu();
    if (childCpu0 !== null && childCpu1 !== null) workerCpuSeconds = childCpu1 - childCpu0;
    if (worker) await worker.stop();
    await Promise.all(children.map(stopChild));
    await hub.app.close();
  }
  latencies.sort((a, b) => a - b);
  const seconds = (lastSeen - t0) / 1000;
  return {
    pool: o.pool,
    concurrency: o.pool === 'solo' ? 1 : o.concurrency,
    workers: Math.max(1, children.length),
    feeds: o.feeds,
    seconds,
    feedsPerSecond: o.feeds / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
    verified,
    saturated,
    workerCpuSeconds,
    mainCpuSeconds,
    warmupSeconds,
    firstError,
  };
}

function report(r: RunResult): string {
  return (
    `${`-P ${r.pool} -c ${r.concurrency}${r.workers > 1 ? ` x${r.workers}` : ''}`.padEnd(20)} ${String(r.feeds).padStart(5)} feeds in ${fmt(r.seconds, 2).padStart(6)} s` +
    ` = ${fmt(r.feedsPerSecond, 1).padStart(7)} feeds/s | latency p50 ${fmt(r.p50Ms).padStart(5)} ms` +
    ` p99 ${fmt(r.p99Ms).padStart(5)} ms | errors ${r.errors} | verified ${r.verified}/${r.feeds}` +
    (r.warmupSeconds !== null ? ` | after a ${fmt(r.warmupSeconds, 1)} s warm-up` : '') +
    (r.workerCpuSeconds !== null
      ? ` | CPU: worker ${fmt(r.workerCpuSeconds, 2)} s, producer+server ${fmt(r.mainCpuSeconds, 2)} s`
      : ` | CPU (one process) ${fmt(r.mainCpuSeconds, 2)} s`)
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      feeds: { type: 'string', default: '2000' },
      concurrency: { type: 'string', short: 'c', default: '1000' },
      pool: { type: 'string', short: 'P', default: 'async' },
      latency: { type: 'string', default: '100' },
      broker: { type: 'string', short: 'b' },
      backend: { type: 'string' },
      worker: { type: 'string', default: 'child' },
      workers: { type: 'string', default: '1' },
      batch: { type: 'string', default: '500' },
      compare: { type: 'boolean', default: false },
      'solo-feeds': { type: 'string', default: '100' },
      warmup: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const feeds = Number(values.feeds);
  const soloFeeds = Number(values['solo-feeds']);
  const server = await startFeedServer({
    feeds: Math.max(feeds, soloFeeds),
    latencyMs: Number(values.latency),
    prerender: true,
  });
  const broker = await resolveBroker(values.broker, 'feedhub');
  let workerMode = values.worker === 'inproc' ? 'inproc' : ('child' as 'inproc' | 'child');
  if (broker.url.startsWith('memory:') && workerMode === 'child') {
    workerMode = 'inproc'; // a memory:// broker lives in this process; a child could not see it
  }
  const out = (s: string) => process.stdout.write(`${s}\n`);
  if (!values.json) {
    out(`feed hub: ${feeds} feeds from ${server.baseUrl}, ${values.latency} ms per answer`);
    out(
      `broker:   ${broker.url}${broker.note ? ` (${broker.note})` : ''}${values.backend ? `, results: ${values.backend}` : ''}; worker: ${workerMode === 'child' ? 'child process (celeriac worker)' : 'in this process'}`,
    );
  }
  const common = {
    broker: broker.url,
    backend: values.backend ?? broker.url,
    worker: workerMode,
    batch: Number(values.batch),
    feedUrl: server.feedUrl,
    quiet: values.json,
    workers: Number(values.workers),
  };
  const results: RunResult[] = [];
  try {
    results.push(
      await runFeedHub({
        ...common,
        feeds,
        pool: values.pool,
        concurrency: Number(values.concurrency),
        warmup:
          values.warmup !== undefined ? Number(values.warmup) : Math.min(feeds, Number(values.concurrency)),
      }),
    );
    if (values.compare) {
      const warmup = values.warmup !== undefined ? Math.min(Number(values.warmup), 5) : 5;
      results.push(await runFeedHub({ ...common, feeds: soloFeeds, pool: 'solo', concurrency: 1, warmup }));
    }
  } finally {
    await server.close();
    broker.cleanup();
  }
  for (const r of results) {
    if (values.json)
      out(
        JSON.stringify({
          ...r,
          latencyMs: Number(values.latency),
          broker: broker.url.split(':')[0],
          worker: workerMode,
        }),
      );
    else out(report(r));
  }
  if (!values.json && results.length === 2) {
    const [a, s] = results as [RunResult, RunResult];
    out(
      `speed-up: ${fmt(a.feedsPerSecond / s.feedsPerSecond, 1)}x (${s.feeds} feeds on solo take ${fmt(s.seconds, 1)} s)`,
    );
  }
  if (!values.json) {
    out(
      'latency: from the enqueue to the worker finishing the task (queue wait, then the fetch and parse);' +
        ' verified: results checked against the feed the server generated (title, item count, newest item).',
    );
    const busy = results.filter((r) => r.saturated > 0);
    if (busy.length) {
      out(
        `note: the worker's event loop was saturated (${busy.map((r) => `-P ${r.pool}`).join(', ')}): a thousand answers` +
          ` arrive together and this machine's ${availableParallelism()} core(s) also run the producer and the feed server.` +
          ' The figures are CPU-bound here; for more feeds/s run more worker processes (--workers 2) or lower -c.',
      );
    }
  }
  for (const r of results) if (r.firstError) out(`first error (${r.pool}): ${r.firstError}`);
  process.exitCode = results.some((r) => r.errors > 0 || r.verified !== r.feeds) ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
