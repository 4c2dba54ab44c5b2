/**
 * From delivery to settled message. Responsibilities:
 *  - vet each message (size, decoding, protocol, known task, revoked, expired) and apply the bad-input
 *    policy: store a FAILURE result when the task id is known, move the message to the dead-letter queue
 *    (`workerDeadLetterQueue`) with the reason, and keep serving;
 *  - hold ETA tasks in one timer heap (raising the prefetch window meanwhile, as Celery does) and
 *    rate-limited tasks until a token is free;
 *  - pick the pool of each task (a mixed worker has a CPU pool beside the main one: tasks declared
 *    `{ pool: 'cpu' }` and messages from its queues go there); each pool has its own ready queue and
 *    gets jobs only while it has a free slot;
 *  - tell the blocking monitor which tasks run on the event loop;
 *  - settle: store the result, publish retries and callbacks, then ack/reject by Celery's rules.
 */
import type { Celeriac } from '../app/celeriac.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Broker, Delivery } from '../brokers/broker.js';
import { MessageTooLarge, NotRegistered, TaskRevokedError } from '../errors.js';
import { parseTaskMessage, type TaskRequest } from '../protocol/message.js';
import { pyRepr } from '../protocol/repr.js';
import { buildMeta, type ExcInfo, type MetaExtras, serializeError } from '../protocol/result.js';
import type { AnyTask } from '../task/task.js';
import { Deque } from '../util/deque.js';
import { TimerHeap } from '../util/timer-heap.js';
import { parseRate, TokenBucket } from '../util/token-bucket.js';
import type { LoopActivity, LoopMonitor } from './blocking.js';
import type { Outcome } from './executor.js';
import type { Logger } from './log.js';
import type { Job, Pool } from './pools/pool.js';

/** One pool and the reservations waiting for a slot in it. */
interface Lane {
  pool: Pool;
  ready: Deque<Reservation>;
}

/** What a reservation calls back into: the dispatcher's own handlers, made once (not per task). */
interface ReservationHooks {
  started(r: Reservation, info?: { pid: number }): void;
  store(r: Reservation, state: string, result: unknown, traceback: string | null): Promise<void> | null;
}

/**
 * A message taken for running. It is also the Job its pool runs: one object per task, with the callbacks
 * on the prototype, because closures per task are measurable garbage at thousands of tasks a second.
 */
class Reservation implements Job {
  /** Set when a cold shutdown gave the message up: its outcome is ignored. */
  abandoned = false;
  hardLimit: number | null = null;
  softLimit: number | null = null;
  activity: LoopActivity | null = null;

  constructor(
    readonly hooks: ReservationHooks,
    readonly delivery: Delivery,
    readonly request: TaskRequest,
    readonly task: AnyTask,
    readonly lane: Lane,
    readonly acksLate: boolean,
  ) {}

  onStart(info?: { pid: number }): void {
    this.hooks.started(this, info);
  }

  updateState(state: string, meta: unknown): Promise<void> {
    return this.hooks.store(this, state, meta, null) ?? Promise.resolve();
  }
}

export interface DispatcherDeps {
  app: Celeriac;
  broker: Broker;
  backend: ResultBackend | null;
  pool: Pool;
  /** Mixed worker: the pool for CPU-bound tasks (`{ pool: 'cpu' }`) and for messages from `cpuQueues`. */
  cpuPool?: Pool | null;
  cpuQueues?: readonly string[];
  /** Told which tasks run on the event loop, to name them when it blocks. */
  monitor?: LoopMonitor | null;
  logger: Logger;
  hostname: string;
  prefetch: number;
  timeLimit: number | null;
  softTimeLimit: number | null;
  setPrefetch(n: number): void;
}

export class Dispatcher {
  readonly prefetch: number;
  readonly #d: DispatcherDeps;
  readonly #main: Lane;
  readonly #cpu: Lane | null;
  readonly #cpuQueues: ReadonlySet<string>;
  readonly #warnedNoCpu = new Set<string>();
  readonly #eta: TimerHeap<Reservation>;
  readonly #rateWait: TimerHeap<Reservation>;
  readonly #buckets = new Map<string, TokenBucket | null>();
  readonly #running = new Set<Reservation>();
  readonly #hooks: ReservationHooks;
  /** Stores, publishes, acks and rejects still in flight; `settled()` waits for 0. */
  #settling = 0;
  #settledWaiters: Array<() => void> = [];
  readonly #revoked = new Set<string>();
  readonly #total: Record<string, number> = {};
  #drainWaiters: Array<() => void> = [];
  #closing = false;

  constructor(deps: DispatcherDeps) {
    this.#d = deps;
    this.prefetch = deps.prefetch;
    this.#main = { pool: deps.pool, ready: new Deque() };
    this.#cpu = deps.cpuPool ? { pool: deps.cpuPool, ready: new Deque() } : null;
    this.#cpuQueues = new Set(deps.cpuQueues ?? []);
    this.#eta = new TimerHeap((r) => {
      this.#adjustPrefetch();
      this.#admit(r);
    });
    this.#rateWait = new TimerHeap((r) => this.#admit(r));
    this.#hooks = {
      started: (r, info) => this.#onStart(r, info),
      store: (r, state, result, traceback) => this.#store(r, state, result, traceback),
    };
  }

  stats(): Record<string, unknown> {
    return {
      total: { ...this.#total },
      active: this.#running.size,
      reserved: this.#main.ready.length + (this.#cpu?.ready.length ?? 0) + this.#rateWait.size,
      scheduled: this.#eta.size,
    };
  }

  /** Reservations waiting for a slot of `pool` (the autoscaler's measure of load). */
  waiting(pool: Pool): number {
    return pool === this.#cpu?.pool ? this.#cpu.ready.length : this.#main.ready.length;
  }

  /** Hand out free slots now (after a pool grew). */
  poke(): void {
    this.#pump(this.#main);
    if (this.#cpu) this.#pump(this.#cpu);
  }

  /** Ids of tasks that must not run (remote control revoke). */
  revoke(id: string): void {
    this.#revoked.add(id);
  }

  /** Entry point for every delivery. Never throws: anything unexpected is logged and the message dead-lettered. */
  receive(delivery: Delivery): void {
    try {
      this.#vet(delivery);
    } catch (err) {
      this.#d.logger.log('error', `could not handle message: ${(err as Error).stack ?? err}`);
      this.#track(this.#deadLetter(delivery, `internal error: ${(err as Error).message}`));
    }
  }

  #vet(delivery: Delivery): void {
    const { app, logger } = this.#d;
    const msg = delivery.message;
    const headerId = typeof msg.headers.id === 'string' ? msg.headers.id : null;
    const headerName = typeof msg.headers.task === 'string' ? msg.headers.task : null;
    if (msg.body.length > app.conf.workerMessageSizeLimit) {
      const err = new MessageTooLarge(msg.body.length, app.conf.workerMessageSizeLimit);
      logger.log('error', `Task ${headerName ?? '?'}[${headerId ?? '?'}] rejected: ${err.message}`);
      this.#track(this.#failUnusable(delivery, headerId, err));
      return;
    }
    const parsed = parseTaskMessage(msg, app.conf.acceptContent);
    if (!parsed.ok) {
      logger.log(
        'error',
        `Task ${parsed.name ?? '?'}[${parsed.id ?? '?'}] rejected: cannot decode message: ${parsed.error.message}`,
      );
      this.#track(this.#failUnusable(delivery, parsed.id, parsed.error));
      return;
    }
    const req = parsed.request;
    const task = app.tasks.get(req.name);
    if (!task) {
      // As Celery: a FAILURE result with NotRegistered under the task id, and the message taken off the queue.
      logger.log(
        'error',
        `Received unregistered task of type '${req.name}' [${req.id}]; moved to the dead-letter queue`,
      );
      this.#track(this.#failUnusable(delivery, req.id, new NotRegistered(req.name), req));
      return;
    }
    if (logger.enabled('info')) logger.log('info', `Task ${req.name}[${req.id}] received`);
    const r = new Reservation(
      this.#hooks,
      delivery,
      req,
      task,
      this.#laneFor(task, delivery.queue),
      task.options.acksLate ?? app.conf.taskAcksLate,
    );
    if (this.#revokedOrExpired(r)) return;
    const broker = this.#d.broker;
    if (
      req.eta &&
      broker.publishDelayed &&
      broker.capabilities.delayedDelivery &&
      req.eta.getTime() - Date.now() > app.conf.workerEtaHandoff * 1000
    ) {
      // A far-future ETA goes back to a broker that can hold it (RabbitMQ delay queues) instead of sitting
      // unacked here past RabbitMQ's consumer_timeout (celery/celery#6760). Published before the ack: a
      // crash in between duplicates the task, never loses it.
      const eta = req.eta;
      this.#track(
        (async () => {
          await broker.publishDelayed?.(delivery.queue, delivery.message, eta);
          await delivery.ack();
          if (logger.enabled('info'))
            logger.log('info', `Task ${req.name}[${req.id}] handed to the broker until ${eta.toISOString()}`);
        })(),
      );
      return;
    }
    if (req.eta && req.eta.getTime() > Date.now()) {
      // Held unacked in the timer heap; the window grows by one so ETA tasks never starve the pool.
      this.#eta.add(req.eta.getTime(), r);
      this.#adjustPrefetch();
      return;
    }
    this.#admit(r);
  }

  #laneFor(task: AnyTask, queue: string): Lane {
    const cpu = task.options.pool === 'cpu';
    if (this.#cpu && (cpu || this.#cpuQueues.has(queue))) return this.#cpu;
    if (cpu && this.#main.pool.onLoop && !this.#warnedNoCpu.has(task.name)) {
      this.#warnedNoCpu.add(task.name);
      this.#d.logger.log(
        'warn',
        `Task ${task.name} is declared { pool: 'cpu' } but this worker has no CPU pool: it runs on the event loop (start the worker with --cpu-pool prefork:N)`,
      );
    }
    return this.#main;
  }

  #adjustPrefetch(): void {
    if (this.prefetch > 0) this.#d.setPrefetch(this.prefetch + this.#eta.size);
  }

  /** Rate limit, then queue for a pool slot. */
  #admit(r: Reservation): void {
    if (this.#closing) {
      this.#track(r.delivery.reject(true));
      return;
    }
    const bucket = this.#bucket(r.task);
    if (bucket) {
      const ok = bucket.take();
      if (ok !== true) {
        this.#rateWait.add(ok, r);
        return;
      }
    }
    r.lane.ready.push(r);
    this.#pump(r.lane);
  }

  #bucket(task: AnyTask): TokenBucket | null {
    let b = this.#buckets.get(task.name);
    if (b === undefined) {
      const rate = task.options.rateLimit;
      b = rate && !this.#d.app.conf.workerDisableRateLimits ? new TokenBucket(parseRate(rate)) : null;
      this.#buckets.set(task.name, b);
    }
    return b;
  }

  #pump(lane: Lane): void {
    // Shutting down: nothing new starts; releaseWaiting() gives the ready ones back.
    if (this.#closing) return;
    const { pool, ready } = lane;
    while (pool.active < pool.concurrency && ready.length > 0) {
      const r = ready.shift() as Reservation;
      if (r.delivery.valid === false) {
        // Its channel died before it started: the broker has requeued it already (it comes back as a
        // redelivery), so running it here too would run it twice. Celery drops such reservations too.
        this.#track(r.delivery.reject(true));
        continue;
      }
      if (this.#revokedOrExpired(r)) continue;
      this.#start(r);
    }
  }

  #start(r: Reservation): void {
    const { app, monitor } = this.#d;
    const { pool } = r.lane;
    const req = r.request;
    this.#running.add(r);
    r.activity = monitor && pool.onLoop ? monitor.begin(req.name, req.id) : null;
    r.hardLimit = req.timeLimit[0] ?? r.task.options.timeLimit ?? this.#d.timeLimit ?? app.conf.taskTimeLimit;
    r.softLimit =
      req.timeLimit[1] ?? r.task.options.softTimeLimit ?? this.#d.softTimeLimit ?? app.conf.taskSoftTimeLimit;
    const running = pool.run(r);
    // On the loop, run() returns at the task's first await: that much ran synchronously.
    if (r.activity) monitor?.ran(r.activity);
    running.then(
      (outcome) => {
        this.#track(this.#settle(r, outcome));
        this.#finished(r);
      },
      (err: unknown) => {
        this.#d.logger.log('error', `pool failed running ${req.name}[${req.id}]: ${err}`);
        this.#finished(r);
      },
    );
  }

  #finished(r: Reservation): void {
    if (r.activity) this.#d.monitor?.end(r.activity);
    this.#running.delete(r);
    this.#pump(r.lane);
    this.#checkDrained();
  }

  /** The pool started the task. */
  #onStart(r: Reservation, info?: { pid: number }): void {
    const { app } = this.#d;
    // Default (acks early): the message is acked when the task starts, as Celery does. Not tracked one by
    // one (hot path): the broker flushes pending acks before it closes.
    if (!r.acksLate) r.delivery.ack().catch(this.#ackFailed);
    if (r.task.options.trackStarted ?? app.conf.taskTrackStarted) {
      this.#track(
        this.#store(r, 'STARTED', { pid: info?.pid ?? process.pid, hostname: this.#d.hostname }, null),
      );
    }
  }

  readonly #ackFailed = (err: Error): void => {
    this.#d.logger.log('error', `ack failed: ${err.message}`);
  };

  /**
   * Settle a finished task. The common case (a success, acked at start, nothing to publish after it) only
   * stores the result and skips the general path's async machinery: it runs for every task.
   */
  #settle(r: Reservation, outcome: Outcome): Promise<void> | null {
    if (r.abandoned) return null;
    if (outcome.kind !== 'success' || r.acksLate || r.request.embed.chain || r.request.embed.callbacks)
      return this.#settleFully(r, outcome);
    const req = r.request;
    this.#total[req.name] = (this.#total[req.name] ?? 0) + 1;
    const { logger } = this.#d;
    if (logger.enabled('info')) {
      logger.log(
        'info',
        `Task ${req.name}[${req.id}] succeeded in ${outcome.runtime.toFixed(6)}s: ${pyRepr(outcome.value).slice(0, 256)}`,
      );
    }
    const stored = this.#store(r, 'SUCCESS', outcome.value, null);
    return stored === null ? null : stored.catch((err: Error) => this.#notRecorded(r, err));
  }

  /** Storing or publishing failed (backend down). An acksLate task whose outcome is not recorded is
   * requeued so it runs again rather than vanish. */
  async #notRecorded(r: Reservation, err: Error): Promise<void> {
    const req = r.request;
    this.#d.logger.log('error', `Task ${req.name}[${req.id}]: could not record the outcome: ${err.message}`);
    await (r.acksLate ? r.delivery.reject(true) : r.delivery.ack()).catch(() => {});
  }

  async #settleFully(r: Reservation, outcome: Outcome): Promise<void> {
    const { app, logger } = this.#d;
    const req = r.request;
    this.#total[req.name] = (this.#total[req.name] ?? 0) + 1;
    try {
      switch (outcome.kind) {
        case 'success':
          if (logger.enabled('info')) {
            logger.log(
              'info',
              `Task ${req.name}[${req.id}] succeeded in ${outcome.runtime.toFixed(6)}s: ${pyRepr(outcome.value).slice(0, 256)}`,
            );
          }
          await this.#store(r, 'SUCCESS', outcome.value, null);
          await this.#followUp(r, outcome.value);
          return void (await r.delivery.ack());
        case 'failure': {
          const lost = r.acksLate && outcome.reason === 'worker-lost';
          if (lost && (r.task.options.rejectOnWorkerLost ?? app.conf.taskRejectOnWorkerLost)) {
            // acksLate + rejectOnWorkerLost: requeue for another try (at-least-once, may loop on a poison
            // task), and store no FAILURE: the task is not over (Celery marks failure only when not requeued).
            logger.log(
              'warn',
              `Task ${req.name}[${req.id}] lost its process (${excRepr(outcome.exc)}); requeued (acksLate + rejectOnWorkerLost)`,
            );
            return void (await r.delivery.reject(true));
          }
          if (outcome.expected)
            logger.log('info', `Task ${req.name}[${req.id}] raised expected: ${excRepr(outcome.exc)}`);
          else
            logger.log(
              'error',
              `Task ${req.name}[${req.id}] raised unexpected: ${excRepr(outcome.exc)}${outcome.traceback ? `\n${outcome.traceback}` : ''}`,
            );
          await this.#store(r, 'FAILURE', outcome.exc, outcome.traceback);
          for (const eb of req.embed.errbacks ?? [])
            await app.applySignature(eb, [req.id], { parentId: req.id, rootId: req.rootId });
          if (!r.acksLate) return void (await r.delivery.ack());
          // acksLate, lost without rejectOnWorkerLost: the task is over, as a failure.
          if (lost) return void (await r.delivery.ack());
          // acksLate failure or timeout: ack by default (Celery's acks_on_failure_or_timeout); else reject
          // (a timed-out task goes back to the queue, a failed one does not).
          if (app.conf.taskAcksOnFailureOrTimeout) return void (await r.delivery.ack());
          return void (await r.delivery.reject(outcome.reason === 'timeout'));
        }
        case 'retry': {
          logger.log(
            'info',
            `Task ${req.name}[${req.id}] retry: Retry in ${Math.max(0, Math.round((outcome.eta - Date.now()) / 1000))}s: ${outcome.reason}`,
          );
          // Publish the retry before settling the original, so a crash in between duplicates, never loses.
          const { message } = app.buildMessage(req.name, req.args, {
            taskId: req.id,
            kwargs: req.kwargs,
            eta: new Date(outcome.eta),
            retries: req.retries + 1,
            ...(req.expires ? { expires: req.expires } : {}),
            rootId: req.rootId,
            parentId: req.id,
            group: req.group,
            groupIndex: req.groupIndex,
            timeLimit: req.timeLimit[0],
            softTimeLimit: req.timeLimit[1],
            ...(req.priority !== null ? { priority: req.priority } : {}),
            // As Celery: the retry answers the same client (its rpc:// reply queue).
            ...(req.replyTo ? { replyTo: req.replyTo } : {}),
            ...(req.embed.callbacks ? { link: req.embed.callbacks } : {}),
            ...(req.embed.errbacks ? { linkError: req.embed.errbacks } : {}),
            ...(req.embed.chain ? { chain: req.embed.chain } : {}),
          });
          await this.#d.broker.publish(r.delivery.queue, message);
          await this.#store(r, 'RETRY', outcome.exc, outcome.traceback);
          return void (await r.delivery.ack());
        }
        case 'reject':
          logger.log(
            'warn',
            `Task ${req.name}[${req.id}] rejected (requeue=${outcome.requeue}): ${outcome.reason}`,
          );
          return void (await r.delivery.reject(outcome.requeue));
        case 'ignore':
          return void (await r.delivery.ack());
      }
    } catch (err) {
      await this.#notRecorded(r, err as Error);
    }
  }

  /** Chain steps and link callbacks after a success. */
  async #followUp(r: Reservation, value: unknown): Promise<void> {
    const { app } = this.#d;
    const req = r.request;
    const chain = req.embed.chain ? [...req.embed.chain] : [];
    const next = chain.pop();
    if (next)
      await app.applySignature(next, [value], {
        parentId: req.id,
        rootId: req.rootId,
        ...(chain.length ? { chain } : {}),
      });
    for (const cb of req.embed.callbacks ?? [])
      await app.applySignature(cb, [value], { parentId: req.id, rootId: req.rootId });
  }

  #ignoresResult(r: Reservation): boolean {
    return r.request.ignoreResult || (r.task.options.ignoreResult ?? this.#d.app.conf.taskIgnoreResult);
  }

  /** Store a state of the task; null when there is nothing to store (no backend, result ignored). */
  #store(r: Reservation, state: string, result: unknown, traceback: string | null): Promise<void> | null {
    const backend = this.#d.backend;
    if (!backend || this.#ignoresResult(r)) return null;
    return backend.store(
      buildMeta(
        r.request.id,
        state,
        result,
        traceback,
        new Date(),
        this.#extras(r.request, r.delivery.queue),
      ),
      { expires: this.#d.app.conf.resultExpires },
      { replyTo: r.request.replyTo, correlationId: r.request.correlationId },
    );
  }

  #extras(req: TaskRequest, queue: string): MetaExtras {
    const extras: MetaExtras = { groupId: req.group, parentId: req.parentId };
    if (this.#d.app.conf.resultExtended) {
      extras.extended = {
        name: req.name,
        args: req.args,
        kwargs: req.kwargs,
        worker: this.#d.hostname,
        retries: req.retries,
        queue,
      };
    }
    return extras;
  }

  /** Revoked or expired: ack, store REVOKED, and do not run. */
  #revokedOrExpired(r: Reservation): boolean {
    const req = r.request;
    const expired = req.expires !== null && req.expires.getTime() <= Date.now();
    if (!expired && !this.#revoked.has(req.id)) return false;
    const reason = expired ? 'expired' : 'revoked';
    this.#d.logger.log('info', `Discarding ${reason} task ${req.name}[${req.id}]`);
    this.#track(
      (async () => {
        await this.#store(r, 'REVOKED', serializeError(new TaskRevokedError(reason)), null);
        await r.delivery.ack();
      })(),
    );
    return true;
  }

  /** A message we cannot run: FAILURE result when the id is known, then dead-letter it. */
  async #failUnusable(delivery: Delivery, id: string | null, err: Error, req?: TaskRequest): Promise<void> {
    const backend = this.#d.backend;
    if (id && backend) {
      const extras: MetaExtras = req ? { groupId: req.group, parentId: req.parentId } : {};
      await backend
        .store(
          buildMeta(id, 'FAILURE', serializeError(err), null, new Date(), extras),
          { expires: this.#d.app.conf.resultExpires },
          // rpc:// sends the result to the client's reply queue; the raw property serves when parsing failed.
          {
            replyTo: req?.replyTo ?? stringProp(delivery.message.properties.reply_to),
            correlationId: req?.correlationId ?? stringProp(delivery.message.properties.correlation_id),
          },
        )
        .catch((e: Error) =>
          this.#d.logger.log('error', `could not store the failure of ${id}: ${e.message}`),
        );
    }
    await this.#deadLetter(delivery, err.message);
  }

  async #deadLetter(delivery: Delivery, reason: string): Promise<void> {
    const queue = this.#d.app.conf.workerDeadLetterQueue;
    if (queue) {
      const msg = delivery.message;
      try {
        await this.#d.broker.publish(queue, {
          ...msg,
          headers: {
            ...msg.headers,
            'x-celeriac-dead-reason': reason,
            'x-celeriac-from-queue': delivery.queue,
          },
        });
      } catch (err) {
        this.#d.logger.log(
          'error',
          `could not dead-letter a message (${reason}): ${(err as Error).message}; rejecting it`,
        );
      }
    }
    await delivery.reject(false);
  }

  /** Count `p` as settling work until it ends (one counter, not a set of promises: this is per task). */
  #track(p: Promise<void> | null): void {
    if (!p) return;
    this.#settling++;
    p.then(this.#settleDone, this.#settleFailed);
  }

  readonly #settleDone = (): void => {
    if (--this.#settling > 0) return;
    const waiters = this.#settledWaiters;
    this.#settledWaiters = [];
    for (const w of waiters) w();
  };

  readonly #settleFailed = (err: Error): void => {
    this.#d.logger.log('error', `settling a message failed: ${err.message}`);
    this.#settleDone();
  };

  /** Shutdown begins: from now on no task starts (called before anything awaits, so none slips in). */
  close(): void {
    this.#closing = true;
  }

  /** Shutdown: messages not started yet (ready, ETA, rate-limited) go back to the broker. */
  async releaseWaiting(): Promise<void> {
    this.#closing = true;
    const waiting: Reservation[] = [...this.#eta.drain(), ...this.#rateWait.drain()];
    for (const lane of [this.#main, this.#cpu]) {
      while (lane?.ready.length) waiting.push(lane.ready.shift() as Reservation);
    }
    await Promise.all(waiting.map((r) => r.delivery.reject(true)));
  }

  /** Cold: abort running tasks; requeue those not acked yet (acksLate), report the others as lost. */
  goCold(reason: Error): void {
    this.#closing = true;
    this.#main.pool.terminateAll(reason);
    this.#cpu?.pool.terminateAll(reason);
    for (const r of this.#running) {
      if (r.abandoned) continue;
      r.abandoned = true;
      if (r.acksLate) this.#track(r.delivery.reject(true));
      else
        this.#d.logger.log(
          'warn',
          `Task ${r.request.name}[${r.request.id}] was running at cold shutdown and was acked already (not acksLate): it will not run again`,
        );
    }
  }

  /** Resolves true when no task is running, false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.#activeCount() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  #activeCount(): number {
    let n = 0;
    for (const r of this.#running) if (!r.abandoned) n++;
    return n;
  }

  #checkDrained(): void {
    if (!this.#drainWaiters.length || this.#activeCount() > 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  /** Wait for every pending store, publish, ack and reject. */
  async settled(): Promise<void> {
    while (this.#settling > 0) await new Promise<void>((resolve) => this.#settledWaiters.push(resolve));
  }
}

function excRepr(exc: ExcInfo): string {
  return `${exc.exc_type}(${exc.exc_message.map((m) => pyRepr(m)).join(', ')})`;
}

const stringProp = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);
