/**
 * The worker. Responsibilities:
 *  - lifecycle: connect, start the pool, consume with prefetch = concurrency × multiplier, warm then cold stop;
 *  - intake (dispatch.ts): decode and vet each message, hold ETA tasks in one timer heap, apply rate limits;
 *  - running: hand jobs to the pool only while it has a free slot; a mixed worker has a second pool for
 *    CPU-bound tasks (`cpuPool`), and either pool may be autoscaled;
 *  - watching: warn when the event loop blocks, naming the tasks that were on it (blocking.ts);
 *  - settling: store the result, publish retries and callbacks, then ack or reject by Celery's rules.
 * Every background loop reports failures through the logger; none dies silently.
 */
import { hostname as osHostname } from 'node:os';
import type { Celeriac } from '../app/celeriac.js';
import type { LogLevel } from '../app/config.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Broker, Consumer } from '../brokers/broker.js';
import { ConfigError, WorkerLostError } from '../errors.js';
import { type AutoscaleOptions, Autoscaler, validateAutoscale } from './autoscale.js';
import { LoopMonitor } from './blocking.js';
import { Dispatcher } from './dispatch.js';
import { createLogger, type Logger } from './log.js';
import { createPool, POOL_ALIASES, type Pool } from './pools/pool.js';

export interface WorkerOptions {
  /** 'async' (aliases 'eventlet', 'gevent'), 'solo', 'prefork', 'threads'. @defaultValue 'async' */
  pool?: string;
  /** Pool slots. @defaultValue 100 for async, 1 for solo, the CPU count for prefork/threads */
  concurrency?: number;
  /** Queues to consume. @defaultValue [taskDefaultQueue] */
  queues?: string[];
  /** Node name; `%h` is the host name. @defaultValue workerHostname setting */
  hostname?: string;
  prefetchMultiplier?: number;
  logLevel?: LogLevel;
  logger?: Logger;
  /** Seconds a warm stop waits for running tasks. @defaultValue workerShutdownTimeout setting */
  shutdownTimeout?: number;
  /** Worker-wide hard/soft time limits in seconds (Celery's --time-limit / --soft-time-limit). */
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  /** Module exporting the app, for pools that load it elsewhere (prefork, threads). */
  appModule?: string;
  /** Options of the process and thread pools (maxTasksPerChild, maxMemoryPerChild, childConcurrency). */
  poolOptions?: Record<string, unknown>;
  /**
   * Mixed worker: a second pool for CPU-bound work, `name[:processes]` ('prefork:2', 'threads'; the count
   * defaults to the CPU count). Tasks declared `{ pool: 'cpu' }` and messages from `cpuQueues` run there,
   * everything else in the main pool (typically `async`).
   */
  cpuPool?: string;
  /** Queues whose tasks run in the CPU pool; consumed as well when `queues` omits them. */
  cpuQueues?: string[];
  /** Size the main pool to its load: `max`/`min` children (prefork, threads) or slots (async). */
  autoscale?: AutoscaleOptions;
  /** Size the CPU pool to its load. */
  cpuAutoscale?: AutoscaleOptions;
  /** Event-loop stall in milliseconds worth a warning; 0 turns the watch off. @defaultValue workerBlockingThreshold setting */
  blockingThreshold?: number;
}

/** Parse `name[:count]` (the CPU pool). */
export function parsePoolSpec(spec: string): { name: string; concurrency?: number } {
  const [name = '', count] = spec.split(':');
  if (!name) throw new ConfigError(`cpuPool must look like "prefork:2" or "threads", got "${spec}"`);
  if (count === undefined) return { name };
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError(`the process count in cpuPool "${spec}" must be a positive integer`);
  return { name, concurrency: n };
}

async function defaultConcurrency(name: string): Promise<number> {
  const real = POOL_ALIASES[name] ?? name;
  if (real === 'solo') return 1;
  if (real === 'prefork' || real === 'threads') return (await import('node:os')).availableParallelism();
  return 100;
}

export type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class Worker {
  readonly app: Celeriac;
  readonly hostname: string;
  readonly queues: string[];
  readonly logger: Logger;
  readonly options: Readonly<WorkerOptions>;
  #state: WorkerState = 'new';
  #pool: Pool | null = null;
  #cpuPool: Pool | null = null;
  #monitor: LoopMonitor | null = null;
  #scalers: Autoscaler[] = [];
  #broker: Broker | null = null;
  #consumer: Consumer | null = null;
  #dispatcher: Dispatcher | null = null;
  #stopping: Promise<void> | null = null;
  readonly startedAt = Date.now();

  constructor(app: Celeriac, options: WorkerOptions = {}) {
    this.app = app;
    this.options = Object.freeze({ ...options });
    this.hostname = (options.hostname ?? app.conf.workerHostname)
      .replace(/%h/g, osHostname())
      .replace(/%n/g, 'celeriac');
    this.queues = options.queues?.length ? [...options.queues] : [app.conf.taskDefaultQueue];
    for (const q of options.cpuQueues ?? []) if (!this.queues.includes(q)) this.queues.push(q);
    this.logger = options.logger ?? createLogger(options.logLevel ?? app.conf.workerLogLevel);
    if (
      options.concurrency !== undefined &&
      (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    ) {
      throw new ConfigError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
    if (options.cpuPool !== undefined) parsePoolSpec(options.cpuPool);
    if (options.cpuQueues?.length && !options.cpuPool)
      throw new ConfigError('cpuQueues needs a CPU pool: set cpuPool too (e.g. cpuPool: "prefork:2")');
    if (options.cpuAutoscale && !options.cpuPool)
      throw new ConfigError('cpuAutoscale needs a CPU pool: set cpuPool too (e.g. cpuPool: "prefork:2")');
    if (options.autoscale) validateAutoscale(options.autoscale);
    if (options.cpuAutoscale) validateAutoscale(options.cpuAutoscale);
    const threshold = options.blockingThreshold;
    if (threshold !== undefined && (!Number.isFinite(threshold) || threshold < 0))
      throw new ConfigError(`blockingThreshold must be a number of milliseconds >= 0, got ${threshold}`);
  }

  get state(): WorkerState {
    return this.#state;
  }
  get pool(): Pool | null {
    return this.#pool;
  }
  /** The CPU pool of a mixed worker. */
  get cpuPool(): Pool | null {
    return this.#cpuPool;
  }
  /** Counters and pool information (what `celery inspect stats` shows). */
  stats(): Record<string, unknown> {
    return {
      ...(this.#dispatcher?.stats() ?? {}),
      pid: process.pid,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      pool: this.#pool?.stats(),
      ...(this.#cpuPool ? { cpu_pool: this.#cpuPool.stats() } : {}),
      ...(this.#scalers.length ? { autoscaler: this.#scalers.map((s) => s.stats()) } : {}),
      ...(this.#monitor ? { blocking: this.#monitor.stats() } : {}),
      prefetch_count: this.#dispatcher?.prefetch ?? 0,
    };
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(`worker.start() called in state ${this.#state}`);
    this.#state = 'starting';
    try {
      await this.#boot();
    } catch (err) {
      // Children must not outlive a worker that failed to start.
      for (const s of this.#scalers) s.stop();
      this.#monitor?.stop();
      await Promise.all([this.#consumer?.cancel(), this.#pool?.stop(), this.#cpuPool?.stop()]);
      this.#state = 'stopped';
      throw err;
    }
  }

  async #boot(): Promise<void> {
    const o = this.options;
    const cpu = o.cpuPool ? parsePoolSpec(o.cpuPool) : null;
    const main = await this.#startPool(o.pool ?? 'async', o.autoscale?.min ?? o.concurrency);
    this.#pool = main;
    if (cpu) {
      this.#cpuPool = await this.#startPool(cpu.name, o.cpuAutoscale?.min ?? cpu.concurrency);
      if (this.#cpuPool.onLoop)
        throw new ConfigError(
          `the CPU pool must run tasks off the event loop: prefork or threads, not "${cpu.name}"`,
        );
    }
    const threshold = o.blockingThreshold ?? this.app.conf.workerBlockingThreshold;
    if (threshold > 0) this.#monitor = new LoopMonitor({ thresholdMs: threshold, logger: this.logger });
    this.#broker = await this.app.broker();
    let backend: ResultBackend | null = null;
    try {
      backend = await this.app.backend();
    } catch (err) {
      // A worker can run without results (Celery's DisabledBackend): say so once, then go on.
      this.logger.log('warn', `results will not be stored: ${(err as Error).message}`);
    }
    this.app.origin = this.hostname;
    const multiplier = this.options.prefetchMultiplier ?? this.app.conf.workerPrefetchMultiplier;
    // An autoscaled pool prefetches for its largest size, so that the waiting work shows the load.
    const slots = (pool: Pool | null, scale?: AutoscaleOptions) =>
      pool ? (scale ? scale.max * (pool.growStep ?? 1) : pool.concurrency) : 0;
    const prefetch = (slots(main, o.autoscale) + slots(this.#cpuPool, o.cpuAutoscale)) * multiplier;
    this.#dispatcher = new Dispatcher({
      app: this.app,
      broker: this.#broker,
      backend,
      pool: main,
      cpuPool: this.#cpuPool,
      cpuQueues: o.cpuQueues ?? [],
      monitor: this.#monitor,
      logger: this.logger,
      hostname: this.hostname,
      prefetch,
      timeLimit: this.options.timeLimit ?? null,
      softTimeLimit: this.options.softTimeLimit ?? null,
      setPrefetch: (n) => this.#consumer?.setPrefetch(n),
    });
    const dispatcher = this.#dispatcher;
    for (const [pool, scale] of [
      [main, o.autoscale],
      [this.#cpuPool, o.cpuAutoscale],
    ] as const) {
      if (!pool || !scale) continue;
      const scaler = new Autoscaler({
        pool,
        options: scale,
        logger: this.logger,
        waiting: () => dispatcher.waiting(pool),
        onResize: () => dispatcher.poke(),
      });
      scaler.start();
      this.#scalers.push(scaler);
    }
    this.#monitor?.start();
    this.#consumer = await this.#broker.consume(this.queues, (d) => dispatcher.receive(d), {
      prefetch: dispatcher.prefetch,
      onError: (err) => this.logger.log('error', `consumer: ${err.message}; retrying`),
    });
    this.#state = 'running';
    const cpuInfo = this.#cpuPool
      ? ` cpu-pool=${this.#cpuPool.implementation}:${this.#cpuPool.concurrency}${o.cpuQueues?.length ? ` cpu-queues=${o.cpuQueues.join(',')}` : ''}`
      : '';
    this.logger.log(
      'info',
      `${this.hostname} ready: pool=${main.implementation} concurrency=${main.concurrency}${cpuInfo} queues=${this.queues.join(',')} broker=${this.#broker.transport}`,
    );
  }

  async #startPool(name: string, concurrency: number | undefined): Promise<Pool> {
    const pool = await createPool(name, {
      app: this.app,
      concurrency: concurrency ?? (await defaultConcurrency(name)),
      hostname: this.hostname,
      logger: this.logger,
      ...(this.options.appModule ? { appModule: this.options.appModule } : {}),
      options: this.options.poolOptions ?? {},
    });
    await pool.start();
    return pool;
  }

  /**
   * Warm stop: stop consuming, give prefetched and ETA messages back, let running tasks finish within
   * `shutdownTimeout`; then cold. `cold: true` skips the wait: running tasks are aborted and their
   * messages requeued when they were not acked yet (acksLate).
   */
  stop(options: { cold?: boolean } = {}): Promise<void> {
    if (options.cold && this.#dispatcher && this.#state === 'stopping')
      this.#dispatcher.goCold(this.#coldError());
    this.#stopping ??= this.#stop(options.cold ?? false);
    return this.#stopping;
  }

  #coldError(): Error {
    return new WorkerLostError('cold shutdown: the worker stopped before the task finished');
  }

  async #stop(cold: boolean): Promise<void> {
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    this.logger.log('info', `${this.hostname}: ${cold ? 'cold' : 'warm'} shutdown`);
    for (const s of this.#scalers) s.stop();
    this.#dispatcher?.close();
    await this.#consumer?.cancel();
    const d = this.#dispatcher;
    if (d) {
      await d.releaseWaiting();
      if (cold) d.goCold(this.#coldError());
      const timeout = (this.options.shutdownTimeout ?? this.app.conf.workerShutdownTimeout) * 1000;
      const drained = await d.drained(timeout);
      if (!drained) {
        this.logger.log('warn', `${this.hostname}: tasks still running after ${timeout / 1000}s; going cold`);
        d.goCold(this.#coldError());
        await d.drained(5000);
      }
      await d.settled();
    }
    this.#monitor?.stop();
    await Promise.all([this.#pool?.stop(), this.#cpuPool?.stop()]);
    this.#state = 'stopped';
  }
}
