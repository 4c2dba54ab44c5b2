/**
 * The worker-wide Prometheus series of the metrics middleware (metrics.ts; the per-task ones are in
 * metrics-tasks.ts), made once per registry: names, help and
 * label sets (Flower 2.0.1's where Flower has the series, docs/observability.md has the table), and the
 * collectors that read, at scrape time, what the worker keeps anyway (stats: in flight, prefetched,
 * scheduled, pool, stalls, consumer errors; broker.size for queue depth; the event-loop delay monitor).
 */
import type { monitorEventLoopDelay } from 'node:perf_hooks';
import type * as Prom from 'prom-client';
import type { WorkerScope } from './middleware.js';

export interface Series {
  online: Prom.Gauge<'worker'>;
  stalls: Prom.Counter<'worker' | 'task'>;
  recycles: Prom.Counter<'worker' | 'pool' | 'reason'>;
  brokerErrors: Prom.Counter<'worker'>;
  deadLetters: Prom.Counter<'worker' | 'reason'>;
}

/** What one worker reads back at scrape time. */
export interface Watched {
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

export function makeSeries(
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
    online: gauge('flower_worker_online', 'Worker online status', ['worker']),
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
