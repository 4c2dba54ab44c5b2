/**
 * DashboardModel: everything the dashboard shows, read only through the public data API. Responsibilities:
 *  - workers and tasks from Celery events: an `app.events.receiver` (with wakeup, so workers answer
 *    with a heartbeat at once) folding into a bounded ClusterState through the TaskStore;
 *  - what events lack, from `app.control.inspect()` every `pollSeconds`: the pool and concurrency
 *    (`stats`), the queues each worker consumes (`active_queues`), and event-loop stalls per task name
 *    (the `blocking` section of a Celeriac worker's `stats` reply: no Celery event carries stalls, and a
 *    Python worker's stats have no such section, so it simply says nothing);
 *  - queue depths from the broker (`size`) every 2 s into the series, for the queues the workers
 *    consume plus the default and dead-letter queues;
 *  - a 1 s tick: the in-flight gauge.
 * Every background loop catches its own failures (a worker that does not answer, a broker hiccup): the
 * page shows the last known value and the loop goes on.
 */
import type { App } from '../app/app.js';
import type { EventReceiver } from '../events/receiver.js';
import type { ClusterWorker } from '../events/state.js';
import type { QueueView, StallView, WorkerView } from './api-types.js';
import { Series } from './series.js';
import { TaskStore } from './tasks.js';

export interface ModelOptions {
  /** Tasks held in memory, the oldest first out. @defaultValue 10000 */
  readonly maxTasks?: number;
  /** Seconds between inspect polls (stats, active_queues). @defaultValue 10 */
  readonly pollSeconds?: number;
  /** Epoch seconds; injected by tests. */
  readonly now?: () => number;
}

interface WorkerStats {
  pool: string | null;
  concurrency: number | null;
  stalls: StallView[];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The stalls a Celeriac worker's `stats` reply lists under `blocking` (middleware/loop-monitor.ts). */
export function stallsOf(worker: string, stats: Record<string, unknown>): StallView[] {
  const b = stats.blocking as Record<string, unknown> | undefined;
  if (!b || typeof b !== 'object') return [];
  const detail = (b['by-task-detail'] ?? {}) as Record<string, Record<string, unknown>>;
  const counts = (b['by-task'] ?? {}) as Record<string, unknown>;
  const out: StallView[] = [];
  for (const [task, count] of Object.entries(counts)) {
    const d = detail[task] ?? {};
    out.push({
      task,
      count: num(count) ?? 0,
      maxMs: num(d['max-ms']),
      lastAt: num(d['last-at']),
      worker,
    });
  }
  return out;
}

export class DashboardModel {
  readonly app: App;
  readonly series: Series;
  readonly store: TaskStore;
  readonly started: number;
  readonly #now: () => number;
  readonly #pollMs: number;
  readonly #stats = new Map<string, WorkerStats>();
  /** Queue name → workers consuming it, from the last active_queues poll. */
  #consumers = new Map<string, Set<string>>();
  #receiver: EventReceiver | null = null;
  #timers: NodeJS.Timeout[] = [];
  #starting: Promise<void> | null = null;
  #eventsAtTick = 0;
  eventsPerSecond = 0;

  constructor(app: App, options: ModelOptions = {}) {
    this.app = app;
    this.#now = options.now ?? (() => Date.now() / 1000);
    this.#pollMs = (options.pollSeconds ?? 10) * 1000;
    this.series = new Series({ now: this.#now });
    const maxTasks = options.maxTasks ?? 10_000;
    this.store = new TaskStore(app.events.state({ maxTasks, now: this.#now }), this.series, maxTasks);
    this.started = this.#now();
  }

  now(): number {
    return this.#now();
  }

  /** Subscribe to events and start the polls; resolves once events are received. Idempotent. */
  start(): Promise<void> {
    if (!this.#starting) {
      this.#starting = this.#start();
      // A broker that is down now may be up at the next request.
      this.#starting.catch(() => {
        this.#starting = null;
        void this.close();
      });
    }
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#receiver = this.app.events.receiver({
      handlers: {
        '*': (event) => {
          this.store.event(event);
          // A worker we have no stats for yet (it just came online): ask it now rather than at the next
          // poll, so its pool and concurrency do not read "–" for up to a poll interval.
          const host = event.hostname;
          if (typeof host === 'string' && event.type.startsWith('worker-') && !this.#stats.has(host))
            this.#pollSoon();
        },
      },
      wakeup: true,
      onError: (err) => process.stderr.write(`celeriac dashboard: ${err.message}\n`),
    });
    await this.#receiver.start();
    const every = (ms: number, fn: () => unknown) => {
      const t = setInterval(() => {
        try {
          const r = fn();
          if (r instanceof Promise) r.catch(() => undefined);
        } catch {
          // a failed sample: the next one tries again
        }
      }, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(1000, () => this.#tick());
    every(2000, () => this.#sampleDepths());
    every(this.#pollMs, () => this.poll());
    void this.poll().catch(() => undefined);
  }

  #tick(): void {
    this.store.sample();
    const seen = this.store.state.eventCount;
    this.eventsPerSecond = seen - this.#eventsAtTick;
    this.#eventsAtTick = seen;
  }

  #soon: NodeJS.Timeout | null = null;
  /** One early poll, a second after the first unknown worker's event (a burst of them asks once). */
  #pollSoon(): void {
    if (this.#soon) return;
    this.#soon = setTimeout(() => {
      this.#soon = null;
      void this.poll().catch(() => undefined);
    }, 1000);
    this.#soon.unref();
  }

  /** Ask the workers what events do not say (stats, active_queues). */
  async poll(): Promise<void> {
    const inspect = this.app.control.inspect({ timeout: 1 });
    const [stats, queues] = await Promise.all([
      inspect.stats().catch(() => ({})),
      inspect.activeQueues().catch(() => ({})),
    ]);
    for (const [node, s] of Object.entries(stats as Record<string, Record<string, unknown>>)) {
      const pool = (s.pool ?? {}) as Record<string, unknown>;
      const impl = pool.implementation;
      this.#stats.set(node, {
        pool: typeof impl === 'string' ? poolName(impl) : null,
        concurrency: num(pool['max-concurrency']),
        stalls: stallsOf(node, s),
      });
    }
    const consumers = new Map<string, Set<string>>();
    for (const [node, list] of Object.entries(queues as Record<string, Record<string, unknown>[]>)) {
      if (!Array.isArray(list)) continue;
      for (const q of list) {
        if (typeof q?.name !== 'string') continue;
        let s = consumers.get(q.name);
        if (!s) {
          s = new Set();
          consumers.set(q.name, s);
        }
        s.add(node);
      }
    }
    if (Object.keys(queues).length) this.#consumers = consumers;
  }

  /** The queues to show: those consumed, the default one, the dead-letter one. */
  queueNames(): string[] {
    const names = new Set<string>([this.app.conf.taskDefaultQueue, ...this.#consumers.keys()]);
    const dl = this.app.conf.workerDeadLetterQueue;
    if (dl) names.add(dl);
    return [...names].sort();
  }

  async #sampleDepths(): Promise<void> {
    const broker = await this.app.broker();
    for (const name of this.queueNames()) {
      const n = await broker.size(name).catch(() => null);
      if (n !== null) this.series.gauge(`depth:${name}`, n);
    }
  }

  async queues(): Promise<QueueView[]> {
    const broker = await this.app.broker();
    const out: QueueView[] = [];
    // Counting by priority browses the messages: only on stores that keep them at rest (a plain read),
    // never on AMQP (browse holds messages unacked), and only for queues small enough to read whole.
    const browsable = broker.browse && (broker.transport === 'redis' || broker.transport === 'sqlite');
    for (const name of this.queueNames()) {
      const depth = await broker.size(name).catch(() => 0);
      const view: { -readonly [K in keyof QueueView]: QueueView[K] } = {
        name,
        depth,
        consumers: this.#consumers.size ? (this.#consumers.get(name)?.size ?? 0) : null,
      };
      if (browsable && depth > 0 && depth <= 1000 && broker.browse) {
        const snap = await broker.browse(name, depth).catch(() => null);
        if (snap) {
          const by: Record<string, number> = {};
          for (const m of snap.messages) {
            const p = String(m.properties.priority ?? 0);
            by[p] = (by[p] ?? 0) + 1;
          }
          await snap.close().catch(() => undefined);
          view.byPriority = by;
        }
      }
      out.push(view);
    }
    return out;
  }

  workerView(w: ClusterWorker): WorkerView {
    const s = this.#stats.get(w.hostname);
    const last = w.heartbeats[w.heartbeats.length - 1];
    return {
      hostname: w.hostname,
      online: w.alive,
      // Our heartbeats say sw_ident 'celeriac'; Celery's say 'py-celery'.
      language: w.sw_ident === 'celeriac' ? 'typescript' : 'python',
      swIdent: w.sw_ident,
      swVer: w.sw_ver,
      pool: s?.pool ?? null,
      concurrency: s?.concurrency ?? null,
      processed: w.processed,
      active: w.active,
      loadavg: Array.isArray(w.loadavg) ? w.loadavg.map(Number) : [],
      heartbeatAge: last === undefined ? null : Math.max(0, Date.now() / 1000 - last),
      pid: w.pid,
    };
  }

  workers(): WorkerView[] {
    return [...this.store.state.workers.values()]
      .map((w) => this.workerView(w))
      .sort((a, b) => a.hostname.localeCompare(b.hostname));
  }

  stalls(): StallView[] {
    const out: StallView[] = [];
    for (const s of this.#stats.values()) out.push(...s.stalls);
    return out.sort((a, b) => b.count - a.count);
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    if (this.#soon) clearTimeout(this.#soon);
    this.#soon = null;
    const r = this.#receiver;
    this.#receiver = null;
    this.#starting = null;
    await r?.close();
  }
}

/**
 * Workers name their pool by class path (Celery `celery.concurrency.prefork:TaskPool`, Celeriac
 * `celeriac.pools.async`, as Flower expects); show the short name.
 */
export function poolName(impl: string): string {
  return /^(?:celery\.concurrency|celeriac\.pools)\.(\w+)/.exec(impl)?.[1] ?? impl;
}
