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
const PY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
export const SENT_AT_HEADER = 'x-celeriac-sent-at';

/** Celery's task event type for each outcome (what Flower counts in flower_events_total). */
const EVENT: Record<string, string> = {
  success: 'task-succeeded',
  failure: 'task-failed',
  retry: 'task-retried',
  reject: 'task-rejected',
  revoked: 'task-revoked',
};

interface Series {
  events: Prom.Counter<'worker' | 'type' | 'task'>;
  runtime: Prom.Histogram<'worker' | 'task'>;
  prefetchTime: Prom.Gauge<'worker' | 'task'>;
  prefetched: Prom.Gauge<'worker' | 'task'>;
  online: Prom.Gauge<'worker'>;
  queueWait: Prom.Histogram<'worker' | 'task'>;
  stalls: Prom.Counter<'worker' | 'task'>;
  recycles: Prom.Counter<'worker' | 'pool' | 'reason'>;
  brokerErrors: Prom.Counter<'worker'>;
  deadLetters: Prom.Counter<'worker' | 'reason'>;
}

/** What one worker reads back at scrape time. */
interface Watched {
  readonly scope: WorkerScope;
  /** Last seen values of cumulative stats, to add only the difference to counters. */
  readonly seen: Map<string, number>;
}

type Stats = {
  active?: number;
  reserved?: number;
  scheduled?: number;
  pool?: Record<string, unknown>;
  cpu_pool?: Record<string, unknown>;
  blocking?: { 'by-task'?: Record<string, number> };
  'broker-errors'?: number;
};

export function metrics(options: MetricsOptions = {}): MetricsMiddleware {
  const port = options.port ?? null;
  const host = options.host ?? '127.0.0.1';
  let registry: Prom.Registry | null = null;
  let series: Series | null = null;
  let server: MetricsServer | null = null;
  const watched = new Set<Watched>();
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
      /** When each run arrived here, and whether it counts as prefetched (Flower: no ETA). */
      const arrived = new WeakMap<TaskRun, number>();
      const prefetched = new WeakSet<TaskRun>();
      const started = new WeakSet<TaskRun>();
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
          const name = run.request.name;
          arrived.set(run, Date.now());
          s.events.labels(worker, 'task-received', name).inc();
          if (!run.request.eta) {
            prefetched.add(run);
            s.prefetched.labels(worker, name).inc();
          }
          return null;
        },
        started(run) {
          const req = run.request;
          const now = Date.now();
          started.add(run);
          s.events.labels(worker, 'task-started', req.name).inc();
          const at = arrived.get(run) ?? now;
          if (prefetched.delete(run)) {
            s.prefetched.labels(worker, req.name).dec();
            s.prefetchTime.labels(worker, req.name).set((now - at) / 1000);
          }
          const sent = req.headers[SENT_AT_HEADER];
          const from = req.eta ? req.eta.getTime() : typeof sent === 'number' ? sent : at;
          s.queueWait.labels(worker, req.name).observe(Math.max(0, now - from) / 1000);
        },
        settled(run, o) {
          const name = run.request.name;
          if (prefetched.delete(run)) s.prefetched.labels(worker, name).dec();
          const type = EVENT[o.kind];
          if (type) s.events.labels(worker, type, name).inc();
          if (started.has(run)) {
            s.runtime.labels(worker, name).observe(o.runtime);
            // Flower sets the prefetch time back to 0 once the task is over.
            s.prefetchTime.labels(worker, name).set(0);
          }
        },
      };
    },
  };
}

function makeSeries(
  prom: typeof Prom,
  registry: Prom.Registry,
  watched: ReadonlySet<Watched>,
  lag: ReturnType<typeof monitorEventLoopDelay>,
): Series {
  const registers = [registry];
  const statsOf = (w: Watched) => w.scope.worker.stats() as Stats;
  /** Add to a counter what a cumulative stat grew by since the last scrape. */
  const grow = <L extends string>(
    w: Watched,
    c: Prom.Counter<L>,
    key: string,
    labels: Record<L, string>,
    value: number,
  ) => {
    const before = w.seen.get(key) ?? 0;
    if (value > before) c.inc(labels as Prom.LabelValues<L>, value - before);
    w.seen.set(key, value);
  };
  const gauge = <L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    collect?: (g: Prom.Gauge<L>) => void | Promise<void>,
  ) =>
    new prom.Gauge<L>({
      name,
      help,
      labelNames,
      registers,
      ...(collect
        ? {
            collect(this: Prom.Gauge<L>) {
              return collect(this);
            },
          }
        : {}),
    });
  const perWorker = (name: string, help: string, read: (s: Stats) => number | undefined) =>
    gauge(name, help, ['worker'], (g) => {
      for (const w of watched) g.labels(w.scope.hostname).set(read(statsOf(w)) ?? 0);
    });

  perWorker(
    'flower_worker_number_of_currently_executing_tasks',
    'Number of tasks currently executing at a worker',
    (s) => s.active,
  );
  perWorker('celeriac_tasks_in_flight', 'Tasks running now (started, not finished)', (s) => s.active);
  perWorker(
    'celeriac_tasks_prefetched',
    'Tasks taken from the broker and waiting for a slot (or held by a rate limit)',
    (s) => s.reserved,
  );
  perWorker('celeriac_tasks_scheduled', 'Tasks held by the worker until their ETA', (s) => s.scheduled);
  gauge('celeriac_pool_processes', 'Processes (or threads) of the pool', ['worker', 'pool'], (g) => {
    for (const w of watched) {
      const s = statsOf(w);
      for (const [pool, p] of [
        ['main', s.pool],
        ['cpu', s.cpu_pool],
      ] as const) {
        if (!p) continue;
        const n = Array.isArray(p.threads)
          ? p.threads.length
          : Array.isArray(p.processes)
            ? p.processes.length
            : 0;
        g.labels(w.scope.hostname, pool).set(n);
      }
    }
  });
  gauge(
    'celeriac_event_loop_lag_seconds',
    'Event-loop delay since the last scrape (perf_hooks.monitorEventLoopDelay)',
    ['worker', 'quantile'],
    (g) => {
      if (lag.count === 0) return;
      const q: [string, number][] = [
        ['0.5', lag.percentile(50)],
        ['0.99', lag.percentile(99)],
        ['1', lag.max],
      ];
      for (const w of watched) for (const [k, ns] of q) g.labels(w.scope.hostname, k).set(ns / 1e9);
      lag.reset();
    },
  );
  gauge(
    'celeriac_queue_depth',
    'Messages ready in the queue, as the broker counts them (at scrape time)',
    ['queue'],
    async (g) => {
      // Each queue once, whichever of this process's workers consume it.
      const queues = new Map<string, WorkerScope>();
      for (const w of watched) for (const q of w.scope.worker.queues) queues.set(q, w.scope);
      await Promise.all(
        [...queues].map(async ([q, scope]) => {
          try {
            g.labels(q).set(await scope.broker.size(q));
          } catch {
            // A broker that cannot count right now: the series keeps its last value rather than failing the scrape.
          }
        }),
      );
    },
  );

  const stalls = new prom.Counter<'worker' | 'task'>({
    name: 'celeriac_event_loop_stalls_total',
    help: 'Event-loop stalls over the blocking threshold, by the task the blocking monitor blamed',
    labelNames: ['worker', 'task'],
    registers,
    collect() {
      for (const w of watched) {
        const byTask = statsOf(w).blocking?.['by-task'] ?? {};
        for (const [task, n] of Object.entries(byTask))
          grow(w, stalls, `stall:${task}`, { worker: w.scope.hostname, task }, n);
      }
    },
  });
  const recycles = new prom.Counter<'worker' | 'pool' | 'reason'>({
    name: 'celeriac_pool_recycles_total',
    help: 'Pool children replaced: replaced (max tasks/memory per child), lost (died), killed (time limit, terminate)',
    labelNames: ['worker', 'pool', 'reason'],
    registers,
    collect() {
      for (const w of watched) {
        const s = statsOf(w);
        for (const [pool, p] of [
          ['main', s.pool],
          ['cpu', s.cpu_pool],
        ] as const)
          for (const reason of ['replaced', 'lost', 'killed'] as const) {
            const n = p?.[reason];
            if (typeof n === 'number')
              grow(w, recycles, `${pool}:${reason}`, { worker: w.scope.hostname, pool, reason }, n);
          }
      }
    },
  });
  const brokerErrors = new prom.Counter<'worker'>({
    name: 'celeriac_broker_reconnects_total',
    help: 'Errors of the broker consumer that it recovered from by reconnecting or retrying',
    labelNames: ['worker'],
    registers,
    collect() {
      for (const w of watched)
        grow(w, brokerErrors, 'broker', { worker: w.scope.hostname }, statsOf(w)['broker-errors'] ?? 0);
    },
  });
  return {
    events: new prom.Counter({
      name: 'flower_events_total',
      help: 'Number of events',
      labelNames: ['worker', 'type', 'task'],
      registers,
    }),
    runtime: new prom.Histogram({
      name: 'flower_task_runtime_seconds',
      help: 'Task runtime',
      labelNames: ['worker', 'task'],
      buckets: PY_BUCKETS,
      registers,
    }),
    prefetchTime: gauge(
      'flower_task_prefetch_time_seconds',
      'The time the task spent waiting at the celery worker to be executed.',
      ['worker', 'task'],
    ),
    prefetched: gauge(
      'flower_worker_prefetched_tasks',
      'Number of tasks of given type prefetched at a worker',
      ['worker', 'task'],
    ),
    online: gauge('flower_worker_online', 'Worker online status', ['worker']),
    queueWait: new prom.Histogram({
      name: 'celeriac_task_queue_wait_seconds',
      help: 'From sent (or ETA) to start; from arrival at the worker when the sender did not stamp the message',
      labelNames: ['worker', 'task'],
      buckets: PY_BUCKETS,
      registers,
    }),
    stalls,
    recycles,
    brokerErrors,
    deadLetters: new prom.Counter({
      name: 'celeriac_dead_letters_total',
      help: 'Messages the worker could not run (moved to workerDeadLetterQueue when set), by reason: too-large, undecodable, unregistered, internal',
      labelNames: ['worker', 'reason'],
      registers,
    }),
  };
}
