/**
 * Prometheus metrics as a middleware: `app.use(metrics({ port: 9808 }))`, or `celeriac worker
 * --metrics-port 9808`. `prom-client` is an optional peer dependency, imported when the first worker
 * starts with this middleware, so an app that does not ask for metrics loads nothing.
 *
 * Series are named as Flower's Prometheus exporter names them where Flower has one (flower/events.py of
 * Flower 2.0.1: same names, same label sets, same runtime buckets), so Grafana dashboards made for Flower
 * read a Celeriac worker; the rest are `celeriac_*`. docs/observability.md has the table.
 * Counters and histograms move in the task hooks (a label lookup and an add each); gauges of state the
 * worker already keeps (in flight, prefetched, pool, stalls, queue depth) are read when scraped, never
 * per task. Queue depth asks the broker (`size`) at scrape time, for the queues this worker consumes.
 * The queue wait runs from the message's `x-celeriac-sent-at` header (epoch ms, stamped on publish by
 * this middleware in any app that uses it) or its ETA, else from its arrival at this worker, to the start.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type * as Prom from 'prom-client';
import { ConfigError } from '../errors.js';
import { type MetricsServer, serveMetrics } from './metrics-http.js';
import { makeSeries, type Series, type Watched } from './metrics-series.js';
import { registerTaskSeries, type TaskTally, tallyOf, type WorkerTallies } from './metrics-tasks.js';
import type { Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

export interface MetricsOptions {
  /** Serve `/metrics` on this port when a worker starts (0: any free port); null: no server of its own. @defaultValue null */
  port?: number | null;
  /** Address the server binds. @defaultValue '127.0.0.1' (loopback: nothing listens on the network unless asked) */
  host?: string;
  /** Registry to put the series in (e.g. prom-client's global `register`). @defaultValue a registry of its own */
  registry?: Prom.Registry;
}

/** The middleware, plus what serves its series. */
export interface MetricsMiddleware extends Middleware {
  /** A Node `http` request handler answering with the exposition text (for a server you mount it on). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** The series as Prometheus text. */
  text(): Promise<string>;
  /** Where the server listens once a worker started with `port` set; null before or without. */
  readonly address: { host: string; port: number } | null;
}

/** prometheus_client's Histogram.DEFAULT_BUCKETS, which Flower's runtime histogram uses. */

export const SENT_AT_HEADER = 'x-celeriac-sent-at';

/** Celery's task event type for each outcome (what Flower counts in flower_events_total). */
const EVENT: Record<string, string> = {
  success: 'task-succeeded',
  failure: 'task-failed',
  retry: 'task-retried',
  reject: 'task-rejected',
  revoked: 'task-revoked',
};

export function metrics(options: MetricsOptions = {}): MetricsMiddleware {
  const port = options.port ?? null;
  const host = options.host ?? '127.0.0.1';
  let registry: Prom.Registry | null = null;
  let series: Series | null = null;
  let server: MetricsServer | null = null;
  const watched = new Set<Watched>();
  const tallies = new Set<WorkerTallies>();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  let loading: Promise<void> | null = null;

  async function load(): Promise<void> {
    let prom: typeof Prom;
    try {
      prom = await import('prom-client');
    } catch (err) {
      throw new ConfigError(`metrics need prom-client: npm install prom-client (${(err as Error).message})`);
    }
    const reg = options.registry ?? new prom.Registry();
    registry = reg;
    series = makeSeries(prom, reg, watched, lag);
    registerTaskSeries(prom, reg, tallies);
    if (port !== null) server = await serveMetrics(host, port, (req, res) => handle(req, res));
  }

  async function text(): Promise<string> {
    return registry ? registry.metrics() : '';
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' || !(req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    text().then(
      (body) =>
        res
          .writeHead(200, { 'content-type': registry?.contentType ?? 'text/plain; version=0.0.4' })
          .end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  }

  return {
    name: 'metrics',
    handle,
    text,
    get address() {
      return server?.address ?? null;
    },
    beforePublish(out) {
      out.message.headers[SENT_AT_HEADER] = Date.now();
    },
    async worker(scope: WorkerScope): Promise<WorkerMiddleware> {
      loading ??= load();
      await loading;
      const s = series as Series;
      const me: Watched = { scope, seen: new Map() };
      const worker = scope.hostname;
      const mine: WorkerTallies = { worker, byTask: new Map() };
      tallies.add(mine);
      // A Map, not a WeakMap: an ephemeron entry per task is measurable GC work; `settled` deletes each.
      const runs = new Map<TaskRun, RunMark>();
      return {
        ready() {
          watched.add(me);
          if (watched.size === 1) lag.enable();
          s.online.labels(worker).set(1);
          // Shown from the start at 0, so a rate() has a first sample before the first reconnect.
          s.brokerErrors.labels(worker).inc(0);
        },
        async stop() {
          s.online.labels(worker).set(0);
          watched.delete(me);
          runs.clear();
          if (watched.size === 0) {
            lag.disable();
            await server?.close();
            server = null;
            loading = null;
          }
        },
        unusable(u) {
          s.deadLetters.labels(worker, u.kind).inc();
          return null;
        },
        received(run) {
          const t = tallyOf(mine, run.request.name);
          // Flower counts a task as prefetched when it has no ETA.
          const prefetched = !run.request.eta;
          runs.set(run, { t, at: Date.now(), prefetched, started: false });
          t.received++;
          if (prefetched) t.prefetched++;
          return null;
        },
        started(run) {
          const mark = runs.get(run);
          if (!mark) return;
          const req = run.request;
          const { t } = mark;
          const now = Date.now();
          mark.started = true;
          t.started++;
          if (mark.prefetched) {
            mark.prefetched = false;
            t.prefetched--;
            t.prefetchTime = (now - mark.at) / 1000;
          }
          const sent = req.headers[SENT_AT_HEADER];
          const from = req.eta ? req.eta.getTime() : typeof sent === 'number' ? sent : mark.at;
          t.queueWait.observe(Math.max(0, now - from) / 1000);
        },
        settled(run, o) {
          const mark = runs.get(run);
          if (!mark) return;
          runs.delete(run);
          const { t } = mark;
          if (mark.prefetched) t.prefetched--;
          const type = EVENT[o.kind];
          if (type) t.outcome[type] = (t.outcome[type] ?? 0) + 1;
          if (mark.started) {
            t.runtime.observe(o.runtime);
            // Flower sets the prefetch time back to 0 once the task is over.
            t.prefetchTime = 0;
          }
        },
      };
    },
  };
}

/** One run between `received` and `settled`. */
interface RunMark {
  readonly t: TaskTally;
  readonly at: number;
  prefetched: boolean;
  started: boolean;
}
