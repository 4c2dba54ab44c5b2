/**
 * The worker. Responsibilities:
 *  - lifecycle: connect, start the pool, consume with prefetch = concurrency × multiplier, warm then cold stop;
 *  - intake (dispatch.ts): decode and vet each message, hold ETA tasks in one timer heap, apply rate limits;
 *  - running: hand jobs to the pool only while it has a free slot;
 *  - settling: store the result, publish retries and callbacks, then ack or reject by Celery's rules.
 * Every background loop reports failures through the logger; none dies silently.
 */
import { hostname as osHostname } from 'node:os';
import type { Celeriac } from '../app/celeriac.js';
import type { LogLevel } from '../app/config.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Broker, Consumer } from '../brokers/broker.js';
import { ConfigError, WorkerLostError } from '../errors.js';
import { Dispatcher } from './dispatch.js';
import { createLogger, type Logger } from './log.js';
import { createPool, type Pool } from './pools/pool.js';

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
  /** Options for the pool (e.g. maxTasksPerChild). */
  poolOptions?: Record<string, unknown>;
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
    this.logger = options.logger ?? createLogger(options.logLevel ?? app.conf.workerLogLevel);
    if (
      options.concurrency !== undefined &&
      (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    ) {
      throw new ConfigError(`concurrency must be a positive integer, got ${options.concurrency}`);
    }
  }

  get state(): WorkerState {
    return this.#state;
  }
  get pool(): Pool | null {
    return this.#pool;
  }
  /** Counters and pool information (what `celery inspect stats` shows). */
  stats(): Record<string, unknown> {
    return {
      ...(this.#dispatcher?.stats() ?? {}),
      pid: process.pid,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      pool: this.#pool?.stats(),
      prefetch_count: this.#dispatcher?.prefetch ?? 0,
    };
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(`worker.start() called in state ${this.#state}`);
    this.#state = 'starting';
    const name = this.options.pool ?? 'async';
    const defaultConcurrency =
      name === 'solo'
        ? 1
        : name === 'prefork' || name === 'threads'
          ? (await import('node:os')).availableParallelism()
          : 100;
    this.#pool = await createPool(name, {
      app: this.app,
      concurrency: this.options.concurrency ?? defaultConcurrency,
      hostname: this.hostname,
      logger: this.logger,
      ...(this.options.appModule ? { appModule: this.options.appModule } : {}),
      options: this.options.poolOptions ?? {},
    });
    await this.#pool.start();
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
    this.#dispatcher = new Dispatcher({
      app: this.app,
      broker: this.#broker,
      backend,
      pool: this.#pool,
      logger: this.logger,
      hostname: this.hostname,
      prefetch: multiplier === 0 ? 0 : this.#pool.concurrency * multiplier,
      timeLimit: this.options.timeLimit ?? null,
      softTimeLimit: this.options.softTimeLimit ?? null,
      setPrefetch: (n) => this.#consumer?.setPrefetch(n),
    });
    const dispatcher = this.#dispatcher;
    this.#consumer = await this.#broker.consume(this.queues, (d) => dispatcher.receive(d), {
      prefetch: dispatcher.prefetch,
      onError: (err) => this.logger.log('error', `consumer: ${err.message}; retrying`),
    });
    this.#state = 'running';
    this.logger.log(
      'info',
      `${this.hostname} ready: pool=${this.#pool.implementation} concurrency=${this.#pool.concurrency} queues=${this.queues.join(',')} broker=${this.#broker.transport}`,
    );
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
    await this.#pool?.stop();
    this.#state = 'stopped';
  }
}
