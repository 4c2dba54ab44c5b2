/**
 * The per-task series of the metrics middleware, counted in plain numbers on the task path and turned
 * into Prometheus series only when scraped. prom-client's own `inc`/`observe` hash the label set on every
 * call (a few microseconds a task, measurable beside a no-op task's ~70 µs); here a task costs a Map
 * lookup by task name, a few additions and a bucket search, and the labels are formatted once per scrape.
 */
import type * as Prom from 'prom-client';

/** prometheus_client's Histogram.DEFAULT_BUCKETS, which Flower's runtime histogram uses. */
export const PY_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

export class Hist {
  /** Observations per bucket (not cumulative); the last slot is over the largest bound. */
  readonly counts = new Float64Array(PY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  observe(v: number): void {
    let i = 0;
    while (i < PY_BUCKETS.length && v > (PY_BUCKETS[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += v;
    this.count++;
  }
}

/** What one worker counted for one task name. */
export class TaskTally {
  received = 0;
  started = 0;
  /** By Celery event type (task-succeeded …). */
  readonly outcome: Record<string, number> = {};
  prefetched = 0;
  prefetchTime = 0;
  readonly runtime = new Hist();
  readonly queueWait = new Hist();
}

/** The tallies of one worker, by task name; kept after the worker stops so counters never go back. */
export interface WorkerTallies {
  readonly worker: string;
  readonly byTask: Map<string, TaskTally>;
}

export function tallyOf(w: WorkerTallies, task: string): TaskTally {
  let t = w.byTask.get(task);
  if (!t) {
    t = new TaskTally();
    w.byTask.set(task, t);
  }
  return t;
}

/** The per-task series over `all`, registered in `registry`. */
export function registerTaskSeries(
  prom: typeof Prom,
  registry: Prom.Registry,
  all: ReadonlySet<WorkerTallies>,
): void {
  const registers = [registry];
  new prom.Counter<'worker' | 'type' | 'task'>({
    name: 'flower_events_total',
    help: 'Number of events',
    labelNames: ['worker', 'type', 'task'],
    registers,
    collect() {
      this.reset();
      for (const w of all)
        for (const [task, t] of w.byTask) {
          this.inc({ worker: w.worker, type: 'task-received', task }, t.received);
          this.inc({ worker: w.worker, type: 'task-started', task }, t.started);
          for (const [type, n] of Object.entries(t.outcome)) this.inc({ worker: w.worker, type, task }, n);
        }
    },
  });
  const perTask = (name: string, help: string, read: (t: TaskTally) => number) =>
    new prom.Gauge<'worker' | 'task'>({
      name,
      help,
      labelNames: ['worker', 'task'],
      registers,
      collect() {
        for (const w of all) for (const [task, t] of w.byTask) this.set({ worker: w.worker, task }, read(t));
      },
    });
  perTask(
    'flower_task_prefetch_time_seconds',
    'The time the task spent waiting at the celery worker to be executed.',
    (t) => t.prefetchTime,
  );
  perTask(
    'flower_worker_prefetched_tasks',
    'Number of tasks of given type prefetched at a worker',
    (t) => t.prefetched,
  );
  histogram(registry, 'flower_task_runtime_seconds', 'Task runtime', all, (t) => t.runtime);
  histogram(
    registry,
    'celeriac_task_queue_wait_seconds',
    'From sent (or ETA) to start; from arrival at the worker when the sender did not stamp the message',
    all,
    (t) => t.queueWait,
  );
}

/** A histogram series read from tallies: the exposition prom-client's Histogram writes, made at scrape. */
function histogram(
  registry: Prom.Registry,
  name: string,
  help: string,
  all: ReadonlySet<WorkerTallies>,
  of: (t: TaskTally) => Hist,
): void {
  const get = async () => {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const w of all)
      for (const [task, t] of w.byTask) {
        const h = of(t);
        const labels = { worker: w.worker, task };
        let acc = 0;
        PY_BUCKETS.forEach((le, i) => {
          acc += h.counts[i] as number;
          values.push({ labels: { ...labels, le }, value: acc, metricName: `${name}_bucket` });
        });
        values.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: `${name}_bucket` });
        values.push({ labels, value: h.sum, metricName: `${name}_sum` });
        values.push({ labels, value: h.count, metricName: `${name}_count` });
      }
    return { name, help, type: 'histogram' as const, aggregator: 'sum' as const, values };
  };
  registry.registerMetric({ name, help, type: 'histogram', aggregator: 'sum', get, reset() {} } as never);
}
