/**
 * The worker's lifecycle. Responsibilities:
 *  - resolve its configuration once (config.ts): the app's settings with the worker's options applied,
 *    deeply frozen;
 *  - start: pools, broker and backend, then each middleware's hooks for this worker (`mw.worker(scope)`),
 *    then consume with prefetch = slots × multiplier; the consumer (consumer.ts) does the rest;
 *  - keep the background loops: autoscalers, heartbeats; each one reports failures through the logger;
 *  - remote control (remote.ts: the control target, mingle, the mailbox): mingle before consuming, then the pidbox mailbox; queues added or
 *    cancelled at run time re-create the one broker consumer (queues.ts);
 *  - stop: warm (stop consuming, give back what waits, let running tasks finish within the shutdown
 *    timeout) then cold (abort them; requeue what was not acked).
 * Features (results, retries, limits, revokes, callbacks, signals …) are middleware: this file only
 * builds their hooks and hands them the scope they need.
 */
import type { App } from '../app/app.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Broker } from '../brokers/broker.js';
import { coreCommands } from '../control/commands/index.js';
import type { Mailbox } from '../control/mailbox.js';
import { ConfigError, WorkerLostError } from '../errors.js';
import { type BoundMiddleware, WorkerHooks } from '../middleware/hooks.js';
import type { ControlHandler, TaskRun, WorkerScope } from '../middleware/middleware.js';
import type { RevokeHooks } from '../middleware/revoke.js';
import type { SignatureJson } from '../protocol/message.js';
import type { SendOptions } from '../task/options.js';
import { appInternals } from '../task/publisher.js';
import { signatureCall } from '../task/signature.js';
import { createLogger, type Logger } from '../util/log.js';
import { type AutoscaleOptions, Autoscaler } from './autoscale.js';
import { resolveWorkerConfig, type WorkerConfig, type WorkerOptions } from './config.js';
import { TaskConsumer } from './consumer.js';
import type { Pool } from './pools/pool.js';
import { createPool, POOL_ALIASES } from './pools/registry.js';
import { ConsumedQueues } from './queues.js';
import { controlTarget, remoteControlOff, runMingle, startMailbox } from './remote.js';

export { parsePoolSpec, type WorkerOptions } from './config.js';

async function defaultConcurrency(name: string): Promise<number> {
  const real = POOL_ALIASES[name] ?? name;
  if (real === 'solo') return 1;
  if (real === 'prefork' || real === 'threads') return (await import('node:os')).availableParallelism();
  return 100;
}

export type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class Worker {
  readonly app: App;
  readonly config: WorkerConfig;
  readonly hostname: string;
  readonly logger: Logger;
  /** Resolves once the worker has stopped, whoever stopped it (a signal, `stop()`, remote `shutdown`). */
  readonly stopped: Promise<void>;
  #stoppedResolve!: () => void;
  /** The queues to consume and the broker consumer made for them (queues.ts). */
  readonly #queues: ConsumedQueues;
  #mailbox: Mailbox | null = null;
  /** controlVia 'parent': the handlers a mailbox would run, answered through controlHandler(). */
  #controls: ReadonlyMap<string, ControlHandler> | null = null;
  #state: WorkerState = 'new';
  #pool: Pool | null = null;
  #cpuPool: Pool | null = null;
  #scalers: Autoscaler[] = [];
  #consumer: TaskConsumer | null = null;
  #hooks: WorkerHooks | null = null;
  #bound: BoundMiddleware[] = [];
  #heartbeat: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  #starting: Promise<void> | null = null;
  /** Aborted by stop() during start: ends the broker connection retries at once (Ctrl-C). */
  readonly #startAbort = new AbortController();
  readonly startedAt = Date.now();

  constructor(app: App, options: WorkerOptions = {}) {
    this.app = app;
    this.config = resolveWorkerConfig(app.conf, options);
    this.hostname = this.config.hostname;
    this.logger = options.logger ?? createLogger(this.config.conf.workerLogLevel);
    this.#queues = new ConsumedQueues(this.config.queues, {
      hostname: this.hostname,
      logger: this.logger,
      running: () => this.#state === 'running',
    });
    this.stopped = new Promise((resolve) => {
      this.#stoppedResolve = resolve;
    });
  }

  /** The queues consumed (remote control's add_consumer/cancel_consumer change them). */
  get queues(): readonly string[] {
    return this.#queues.names;
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
      ...(this.#consumer?.stats() ?? {}),
      pid: process.pid,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      pool: this.#pool?.stats(),
      ...(this.#cpuPool ? { cpu_pool: this.#cpuPool.stats() } : {}),
      ...(this.#scalers.length ? { autoscaler: this.#scalers.map((s) => s.stats()) } : {}),
      ...(this.#hooks?.stats() ?? {}),
      prefetch_count: this.#consumer?.prefetch ?? 0,
      'broker-errors': this.#queues.brokerErrors,
    };
  }

  /**
   * Do not run the task(s) with this id: settled as REVOKED when they arrive or come to run. With
   * `terminate`, a running one is stopped too (its pool's way: docs/monitoring.md) with `signal`
   * (default SIGTERM). Returns the reply remote control's `revoke` sends (Celery's texts).
   */
  revoke(
    id: string | string[],
    options: { terminate?: boolean; signal?: string | number } = {},
  ): { ok: string } {
    const hooks = this.#bound.find((b) => b.name === 'revoke')?.hooks as RevokeHooks | undefined;
    if (!hooks) throw new ConfigError('revoke() needs a started worker');
    return hooks.revokeTasks(id, options.terminate === true, options.signal);
  }

  /** The remote-control command `method` as a middleware of this started worker answers it (the mailbox's lookup). */
  controlHandler(method: string): ControlHandler | undefined {
    return this.#controls ? this.#controls.get(method) : this.#hooks?.controls().get(method);
  }

  start(): Promise<void> {
    if (this.#state !== 'new')
      return Promise.reject(new ConfigError(`worker.start() called in state ${this.#state}`));
    this.#state = 'starting';
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    try {
      await this.#boot();
    } catch (err) {
      // Children must not outlive a worker that failed to start.
      for (const s of this.#scalers) s.stop();
      await Promise.all([this.#queues.cancel(), this.#pool?.stop(), this.#cpuPool?.stop()]);
      await this.#mailbox?.stop().catch(() => {});
      this.#state = 'stopped';
      this.#stoppedResolve();
      throw err;
    }
  }

  async #boot(): Promise<void> {
    const c = this.config;
    const main = await this.#startPool(c.pool, c.autoscale?.min ?? c.concurrency);
    this.#pool = main;
    if (c.cpuPool) {
      this.#cpuPool = await this.#startPool(c.cpuPool.name, c.cpuAutoscale?.min ?? c.cpuPool.concurrency);
      if (this.#cpuPool.onLoop)
        throw new ConfigError(
          `the CPU pool must run tasks off the event loop: prefork or threads, not "${c.cpuPool.name}"`,
        );
    }
    const broker = await this.app.broker({ logger: this.logger, signal: this.#startAbort.signal });
    // What the adapter handles by itself (undecodable envelopes, duplicate tags, lease and restore trouble)
    // is reported through this worker's logger, so `-l` governs it and NODE_NO_WARNINGS cannot hide it.
    broker.setLogger?.(this.logger);
    let backend: ResultBackend | null = null;
    try {
      backend = await this.app.backend();
    } catch (err) {
      // A worker can run without results (Celery's DisabledBackend): say so once, then go on.
      this.logger.log('warn', `results will not be stored: ${(err as Error).message}`);
    }
    const scope = this.#scope(broker, backend);
    for (const mw of this.app.middleware) {
      const hooks = await mw.worker?.(scope);
      if (hooks) this.#bound.push({ name: mw.name, hooks });
    }
    const hooks = new WorkerHooks(this.#bound, this.logger);
    this.#hooks = hooks;
    // An autoscaled pool prefetches for its largest size, so that the waiting work shows the load.
    const slots = (pool: Pool | null, scale: Readonly<AutoscaleOptions> | null) =>
      pool ? (scale ? scale.max * (pool.growStep ?? 1) : pool.concurrency) : 0;
    const prefetch =
      (slots(main, c.autoscale) + slots(this.#cpuPool, c.cpuAutoscale)) * c.conf.workerPrefetchMultiplier;
    const consumer = new TaskConsumer({
      broker,
      hooks,
      scope,
      pool: main,
      cpuPool: this.#cpuPool,
      cpuQueues: c.cpuQueues,
      prefetch,
      setPrefetch: (n) => this.#queues.setPrefetch(n),
    });
    this.#consumer = consumer;
    for (const [pool, scale] of [
      [main, c.autoscale],
      [this.#cpuPool, c.cpuAutoscale],
    ] as const) {
      if (!pool || !scale) continue;
      const scaler = new Autoscaler({
        pool,
        options: scale,
        logger: this.logger,
        waiting: () => consumer.waiting(pool),
        onResize: () => consumer.poke(),
      });
      scaler.start();
      this.#scalers.push(scaler);
    }
    const off = remoteControlOff(this.app, broker);
    const revokeHooks = this.#bound.find((b) => b.name === 'revoke')?.hooks as RevokeHooks | undefined;
    if (!off && c.mingle) await runMingle(this.app, this.hostname, this.logger, revokeHooks);
    await this.#queues.start(broker, consumer);
    if (off) this.logger.log('info', `remote control off: ${off}`);
    else {
      try {
        const target = controlTarget(this, broker, {
          consumer: this.#consumer as TaskConsumer,
          pools: () => {
            const out = [];
            for (const pool of [this.#pool, this.#cpuPool])
              if (pool) out.push({ pool, autoscaler: this.#scalers.find((s) => s.pool === pool) ?? null });
            return out;
          },
          queues: () => this.#queues.specs,
          changeQueues: (next) => this.#queues.change(next),
        });
        if (c.controlVia === 'parent') this.#controls = hooks.controls(coreCommands(target));
        else this.#mailbox = await startMailbox(this.app, broker, target, hooks);
      } catch (err) {
        this.logger.log('error', `remote control off: ${(err as Error).message}`);
      }
    }
    this.#state = 'running';
    if (hooks.wantsHeartbeat) {
      this.#heartbeat = setInterval(() => hooks.heartbeat(), c.conf.workerHeartbeatInterval * 1000);
      this.#heartbeat.unref();
    }
    hooks.ready();
    const cpuInfo = this.#cpuPool
      ? ` cpu-pool=${this.#cpuPool.implementation}:${this.#cpuPool.concurrency}${c.cpuQueues.length ? ` cpu-queues=${c.cpuQueues.join(',')}` : ''}`
      : '';
    this.logger.log(
      'info',
      `${this.hostname} ready: pool=${main.implementation} concurrency=${main.concurrency}${cpuInfo} queues=${this.queues.join(',')} broker=${broker.transport}`,
    );
  }

  /** What the middleware of this worker get; built once at start. */
  #scope(broker: Broker, backend: ResultBackend | null): WorkerScope {
    const app = this.app;
    const internals = appInternals(app);
    const hostname = this.hostname;
    // A worker's publishes carry its node name as Celery's `origin` header.
    const publish = async (name: string, args: unknown[], options: SendOptions): Promise<string> => {
      const r = await internals.publish(name, args, { ...options, origin: hostname }, app.tasks.get(name));
      return r.id;
    };
    return Object.freeze({
      hostname,
      conf: this.config.conf,
      broker,
      backend,
      logger: this.logger,
      tasks: app.tasks,
      signals: app.signals,
      clock: app.clock,
      worker: this,
      apply: (sig: SignatureJson, prepend: readonly unknown[], extra: SendOptions) => {
        const call = signatureCall(sig, prepend, extra);
        return publish(call.name, call.args, call.options);
      },
      send: publish,
      route: (name: string, options: SendOptions) => internals.route(name, options, app.tasks.get(name)),
      resume: (run: TaskRun) => this.#consumer?.resume(run),
      track: (work: Promise<void> | null) => this.#consumer?.track(work),
      terminate: (ids: ReadonlySet<string>, signal: { num: number; name: string }) =>
        this.#consumer?.terminate(ids, signal) ?? [],
    });
  }

  async #startPool(name: string, concurrency: number | undefined): Promise<Pool> {
    const pool = await createPool(name, {
      app: this.app,
      concurrency: concurrency ?? (await defaultConcurrency(name)),
      hostname: this.hostname,
      logger: this.logger,
      ...(this.config.appModule ? { appModule: this.config.appModule } : {}),
      options: this.config.poolOptions,
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
    if (options.cold && this.#consumer && this.#state === 'stopping')
      this.#consumer.goCold(this.#coldError());
    this.#stopping ??= this.#stop(options.cold ?? false);
    return this.#stopping;
  }

  #coldError(): Error {
    return new WorkerLostError('cold shutdown: the worker stopped before the task finished');
  }

  async #stop(cold: boolean): Promise<void> {
    if (this.#state === 'starting') {
      // Still connecting (or booting): end the connection retries, then stop whatever start got to.
      this.#startAbort.abort();
      await this.#starting?.catch(() => {});
    }
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#state = 'stopped';
      this.#stoppedResolve();
      return;
    }
    this.#state = 'stopping';
    this.logger.log('info', `${this.hostname}: ${cold ? 'cold' : 'warm'} shutdown`);
    for (const s of this.#scalers) s.stop();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#consumer?.close(); // first, before anything awaits: no task starts from now on
    await this.#mailbox
      ?.stop()
      .catch((err: Error) => this.logger.log('warn', `remote control: ${err.message}`));
    await this.#queues.stop();
    const d = this.#consumer;
    if (d) {
      await d.releaseWaiting();
      if (cold) d.goCold(this.#coldError());
      const timeout = this.config.conf.workerShutdownTimeout * 1000;
      const drained = await d.drained(timeout);
      if (!drained) {
        this.logger.log('warn', `${this.hostname}: tasks still running after ${timeout / 1000}s; going cold`);
        d.goCold(this.#coldError());
        await d.drained(5000);
      }
      await d.settled();
    }
    await this.#hooks?.stop();
    await Promise.all([this.#pool?.stop(), this.#cpuPool?.stop()]);
    this.#state = 'stopped';
    this.#stoppedResolve();
  }
}
