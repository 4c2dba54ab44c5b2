/**
 * From delivery to settled message: the worker's core loop, with every feature left to middleware.
 * Responsibilities:
 *  - vet each message (vet.ts: size, decoding, known task); one that cannot run goes to the `unusable` hooks
 *    (FAILURE stored, dead-lettered, logged) and is rejected, and the worker keeps serving;
 *  - reserve: wrap it in a Reservation, which the `received` hooks may settle at once (revoked, expired);
 *  - ETA: hold it unacked in one timer heap, raising the prefetch window meanwhile as Celery does, or
 *    hand a far-future one back to a broker that can hold it;
 *  - queue it for a pool slot after the `admit` hooks (a rate limit may hold it); each pool has its
 *    own ready queue and gets jobs only while it has a free slot; a mixed worker has a CPU pool beside
 *    the main one (tasks declared `{ pool: 'cpu' }` and messages from its queues go there);
 *  - settle: the `decide` hooks say ack or requeue and why, the `settle` hooks record the outcome, then
 *    the message is acked or rejected here, the one place that touches the delivery;
 *  - terminate (revoke --terminate): a running task's pool stops it and frees its slot; the run is
 *    settled as REVOKED at once and whatever the pool reports for it later is ignored;
 *  - shutdown: stop starting tasks, give back what waits, wait for (or abandon) what runs.
 */
import type { Broker, Delivery } from '../brokers/broker.js';
import type { WorkerHooks } from '../middleware/hooks.js';
import type { Disposition, TaskRun, Unusable, WorkerScope } from '../middleware/middleware.js';
import type { TaskRequest } from '../protocol/message.js';
import type { Outcome } from '../task/outcome.js';
import type { AnyTask } from '../task/task.js';
import { Deque } from '../util/deque.js';
import { setLongTimeout } from '../util/long-timeout.js';
import { TimerHeap } from '../util/timer-heap.js';
import type { Pool } from './pools/pool.js';
import { type Lane, Reservation, type ReservationOwner } from './reservation.js';
import { SettleTracker } from './settling.js';
import { internalUnusable, vetDelivery } from './vet.js';

/** Without an acks middleware a finished task's message is acked. */
const ACK: Disposition = Object.freeze({ action: 'ack', reason: 'the task finished', final: true });

export interface ConsumerDeps {
  broker: Broker;
  hooks: WorkerHooks;
  scope: Pick<WorkerScope, 'conf' | 'logger' | 'tasks'>;
  pool: Pool;
  /** Mixed worker: the pool for CPU-bound tasks (`{ pool: 'cpu' }`) and for messages from `cpuQueues`. */
  cpuPool?: Pool | null;
  cpuQueues?: readonly string[];
  prefetch: number;
  setPrefetch(n: number): void;
}

export class TaskConsumer implements ReservationOwner {
  #prefetch: number;
  readonly #d: ConsumerDeps;
  readonly #hooks: WorkerHooks;
  readonly #main: Lane;
  readonly #cpu: Lane | null;
  readonly #cpuQueues: ReadonlySet<string>;
  readonly #warnedNoCpu = new Set<string>();
  readonly #eta: TimerHeap<Reservation>;
  readonly #running = new Set<Reservation>();
  /** Stores, publishes, acks and rejects still in flight; `settled()` waits for them. */
  readonly #settling: SettleTracker;
  readonly #total: Record<string, number> = {};
  #drainWaiters: Array<() => void> = [];
  #closing = false;

  constructor(deps: ConsumerDeps) {
    this.#d = deps;
    this.#hooks = deps.hooks;
    this.#settling = new SettleTracker(deps.scope.logger);
    this.#prefetch = deps.prefetch;
    this.#main = { pool: deps.pool, ready: new Deque() };
    this.#cpu = deps.cpuPool ? { pool: deps.cpuPool, ready: new Deque() } : null;
    this.#cpuQueues = new Set(deps.cpuQueues ?? []);
    this.#eta = new TimerHeap((r) => {
      this.#adjustPrefetch();
      this.#admit(r);
    });
  }

  /** The prefetch window without the ETA allowance. */
  get prefetch(): number {
    return this.#prefetch;
  }

  /** The pools grew or shrank by `delta` window slots (remote pool_grow/pool_shrink). */
  resize(delta: number): void {
    if (this.#prefetch <= 0) return; // unlimited stays unlimited
    this.#prefetch = Math.max(1, this.#prefetch + delta);
    this.#adjustPrefetch();
    this.poke();
  }

  /** What runs, waits (for a slot or in a middleware: rate limits) and waits for its ETA, for inspect. */
  inventory(): { active: Reservation[]; reserved: TaskRun[]; scheduled: Reservation[] } {
    const reserved: TaskRun[] = [...this.#main.ready.toArray(), ...(this.#cpu?.ready.toArray() ?? [])];
    reserved.push(...this.#hooks.heldRuns());
    const active = [...this.#running].filter((r) => !r.abandoned);
    return { active, reserved, scheduled: this.#eta.items() };
  }

  stats(): Record<string, unknown> {
    return {
      total: { ...this.#total },
      active: this.#running.size,
      reserved: this.#main.ready.length + (this.#cpu?.ready.length ?? 0) + this.#hooks.held(),
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

  /** Entry point for every delivery. Never throws: anything unexpected is logged and the message dead-lettered. */
  receive(delivery: Delivery): void {
    try {
      this.#vet(delivery);
    } catch (err) {
      this.#unusable(internalUnusable(delivery, err));
    }
  }

  #vet(delivery: Delivery): void {
    const vetted = vetDelivery(delivery, this.#d.scope);
    if (!vetted.ok) {
      this.#unusable(vetted.unusable);
      return;
    }
    const { request: req, task } = vetted;
    const { conf } = this.#d.scope;
    const r = new Reservation(this, delivery, req, task, this.#laneFor(task, delivery.queue));
    const early = this.#hooks.received(r);
    if (early) {
      this.track(this.#settle(r, early));
      return;
    }
    const broker = this.#d.broker;
    if (
      req.eta &&
      broker.publishDelayed &&
      broker.capabilities.delayedDelivery &&
      req.eta.getTime() - Date.now() > conf.workerEtaHandoff * 1000
    ) {
      // A far-future ETA goes back to a broker that can hold it (RabbitMQ delay queues) instead of sitting
      // unacked here past RabbitMQ's consumer_timeout (celery/celery#6760). Published before the ack: a
      // crash in between duplicates the task, never loses it.
      this.track(this.#handOff(broker, delivery, req, req.eta));
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

  async #handOff(broker: Broker, delivery: Delivery, req: TaskRequest, eta: Date): Promise<void> {
    await broker.publishDelayed?.(delivery.queue, delivery.message, eta);
    await delivery.ack();
    const { logger } = this.#d.scope;
    if (logger.enabled('info'))
      logger.log('info', `Task ${req.name}[${req.id}] handed to the broker until ${eta.toISOString()}`);
  }

  /** A message that cannot run (./vet.ts): the `unusable` hooks (store FAILURE, dead-letter, log), then reject it. */
  #unusable(u: Unusable): void {
    // Rejected without requeue: it would fail the same way again (the dead-letter queue has a copy).
    this.track(this.#hooks.unusable(u).then(() => u.delivery.reject(false)));
  }

  #laneFor(task: AnyTask, queue: string): Lane {
    const cpu = task.options.pool === 'cpu';
    if (this.#cpu && (cpu || this.#cpuQueues.has(queue))) return this.#cpu;
    if (cpu && this.#main.pool.onLoop && !this.#warnedNoCpu.has(task.name)) {
      this.#warnedNoCpu.add(task.name);
      this.#d.scope.logger.log(
        'warn',
        `Task ${task.name} is declared { pool: 'cpu' } but this worker has no CPU pool: it runs on the event loop (start the worker with --cpu-pool prefork:N)`,
      );
    }
    return this.#main;
  }

  #adjustPrefetch(): void {
    if (this.#prefetch > 0) this.#d.setPrefetch(this.#prefetch + this.#eta.size);
  }

  /** Due: the `admit` hooks (a rate limit may hold it), then queue for a pool slot. */
  #admit(r: Reservation): void {
    if (this.#closing) {
      this.track(r.delivery.reject(true)); // shutting down: back to the queue
      return;
    }
    if (!this.#hooks.admit(r)) return; // held; the middleware resumes it
    this.resume(r);
  }

  /** Queue a run that passed `admit` for its pool (middleware call this for runs they held). */
  resume(run: TaskRun): void {
    const r = run as Reservation;
    if (this.#closing) {
      this.track(r.delivery.reject(true));
      return;
    }
    r.lane.ready.push(r);
    this.#pump(r.lane);
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
        this.track(r.delivery.reject(true));
        continue;
      }
      const early = this.#hooks.beforeStart(r);
      if (early) {
        this.track(this.#settle(r, early));
        continue;
      }
      this.#start(r);
    }
  }

  #start(r: Reservation): void {
    const { pool } = r.lane;
    this.#running.add(r);
    const running = pool.run(r);
    if (this.#hooks.wantsLaunched) this.#hooks.launched(r);
    running.then(
      (outcome) => {
        if (r.terminated) return; // settled when it was terminated
        this.#finished(r);
        this.track(this.#settle(r, outcome));
      },
      (err: unknown) => {
        if (r.terminated) return;
        this.#d.scope.logger.log('error', `pool failed running ${r.request.name}[${r.request.id}]: ${err}`);
        this.#finished(r);
      },
    );
  }

  /**
   * Terminate the running tasks with these ids (their ids are revoked already, so those not started yet
   * never will). Returns the ids found: the terminated ones, then those reserved for a slot, as Celery's
   * reply lists its reserved requests too. A pool without `terminate` leaves its tasks running.
   */
  terminate(ids: ReadonlySet<string>, signal: { num: number; name: string }): string[] {
    const found = new Set<string>();
    for (const r of [...this.#running]) {
      if (r.abandoned || r.terminated || !ids.has(r.request.id)) continue;
      const outcome = r.lane.pool.terminate?.(r, signal) ?? null;
      if (!outcome) continue;
      r.terminated = true;
      found.add(r.request.id);
      this.#finished(r);
      this.track(this.#settle(r, outcome));
    }
    for (const lane of [this.#main, this.#cpu])
      for (const r of lane?.ready ?? []) if (ids.has(r.request.id)) found.add(r.request.id);
    return [...found];
  }

  #finished(r: Reservation): void {
    this.#hooks.finished(r);
    this.#running.delete(r);
    this.#pump(r.lane);
    this.#checkDrained();
  }

  /** The pool started the task (ReservationOwner). */
  started(r: Reservation, info?: { pid: number }): void {
    this.#hooks.started(r, info);
  }

  /** currentTask().updateState (ReservationOwner). */
  updateState(r: Reservation, state: string, meta: unknown): Promise<void> {
    return this.#hooks.updateState(r, state, meta);
  }

  /** Settle an outcome: decide, record (the settle hooks), then ack or reject as decided. */
  #settle(r: Reservation, outcome: Outcome): Promise<void> | null {
    if (r.abandoned) return null;
    if (outcome.kind !== 'revoked') this.#total[r.request.name] = (this.#total[r.request.name] ?? 0) + 1;
    r.disposition = this.#hooks.decide(r, outcome, ACK);
    return this.#hooks.settle(r, outcome, 0, this.#dispose, this.#notRecorded);
  }

  /** Carry out the disposition. Acks early were done at start; nothing to do for them here. */
  readonly #dispose = (run: TaskRun, outcome: Outcome): Promise<void> | null => {
    const d = run.disposition ?? ACK;
    if (run.acked) {
      this.#hooks.settled(run, outcome);
      return null;
    }
    run.acked = true;
    const r = run as Reservation;
    const { logger } = this.#d.scope;
    if (logger.enabled('debug'))
      logger.log('debug', `Task ${r.request.name}[${r.request.id}]: ${d.action} (${d.reason})`);
    const done = d.action === 'ack' ? r.delivery.ack() : r.delivery.reject(d.action === 'requeue');
    return done.then(() => this.#hooks.settled(run, outcome));
  };

  /**
   * Recording the outcome failed (backend or broker down). A message not acked yet goes back to the
   * queue, so the task runs again rather than vanish; one acked at start cannot be taken back.
   */
  readonly #notRecorded = async (run: TaskRun, err: unknown): Promise<void> => {
    const req = run.request;
    const why = err instanceof Error ? err.message : String(err);
    this.#d.scope.logger.log('error', `Task ${req.name}[${req.id}]: could not record the outcome: ${why}`);
    if (run.acked) return;
    run.acked = true;
    await run.delivery.reject(true).catch(() => {});
  };

  /** Count `p` as settling work until it ends (a warm shutdown waits for it). */
  readonly track = (p: Promise<void> | null): void => this.#settling.track(p);

  /** Shutdown begins: from now on no task starts (called before anything awaits, so none slips in). */
  close(): void {
    this.#closing = true;
  }

  /** Shutdown: messages not started yet (ready, ETA, held by middleware) go back to the broker. */
  async releaseWaiting(): Promise<void> {
    this.#closing = true;
    const waiting: TaskRun[] = [...this.#eta.drain(), ...this.#hooks.releaseHeld()];
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
      if (!r.acked) {
        r.acked = true;
        this.track(r.delivery.reject(true));
      } else
        this.#d.scope.logger.log(
          'warn',
          `Task ${r.request.name}[${r.request.id}] was running at cold shutdown and was acked already (not acksLate): it will not run again`,
        );
    }
  }

  /** Resolves true when no task is running, false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.#activeCount() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setLongTimeout(() => resolve(false), timeoutMs);
      this.#drainWaiters.push(() => {
        timer.clear();
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
  settled(): Promise<void> {
    return this.#settling.settled();
  }
}
