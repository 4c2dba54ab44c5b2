/**
 * The middleware contract: every feature of the worker beyond taking messages and acking them (results,
 * retries, time limits, rate limits, revokes, callbacks, chords, errbacks, dead-lettering, logging,
 * signals) is a Middleware, and so are users' own (`app.use(mw)`). A middleware implements only the hooks it needs;
 * the others do nothing. The worker builds one array per hook when it starts (hooks.ts), so a task costs
 * one call per hook a middleware implements, and nothing is allocated for hooks nobody implements.
 *
 * Where hooks run:
 *  - lifecycle, intake and settling hooks: in the worker process, in this order for one task:
 *    `received` → (ETA wait) → `admit` → `beforeStart` → `started` → `launched` → `finished` →
 *    `decide` → `settle` → `settled`. A message the worker cannot run goes to `unusable` instead.
 *  - execution hooks (`beforeRun`, `taskError`, `afterRun`): in the process that runs the task, which is
 *    the worker for the async and solo pools and a pool child for prefork and threads. A child loads the
 *    app module, so it has the same middleware.
 *  - publishing hooks: in whichever process publishes (clients and workers alike).
 * Middleware run in the order they were added, built-ins first (middleware/index.ts gives that order).
 * A hook that throws is contained by the caller: logged with the middleware's name and the task id.
 */
import type { Settings } from '../app/config.js';
import type { Signals } from '../app/signals.js';
import type { ResultBackend } from '../backends/backend.js';
import type { Broker, Delivery } from '../brokers/broker.js';
import type { SignatureJson, TaskRequest, WireMessage } from '../protocol/message.js';
import type { SendOptions, TaskOptions } from '../task/options.js';
import type { Outcome } from '../task/outcome.js';
import type { AnyTask } from '../task/task.js';
import type { LamportClock } from '../util/lamport.js';
import type { Logger } from '../util/log.js';

/** What the consumer does with a settled message, and why (the reason is logged at debug level). */
export interface Disposition {
  readonly action: 'ack' | 'requeue' | 'reject';
  readonly reason: string;
  /** The task is over: its outcome is its final state. False when it goes back to run again. */
  readonly final: boolean;
}

/** One message taken for running, as every hook sees it (the consumer's Reservation implements it). */
export interface TaskRun {
  readonly delivery: Delivery;
  readonly request: TaskRequest;
  readonly task: AnyTask;
  /** The pool that runs it works on this process's event loop (async, solo). */
  readonly onLoop: boolean;
  /** Set once the message is acked; by default that happens when the task starts (acks early). */
  acked: boolean;
  /** Seconds, or null for none; set by the time-limits middleware before the task starts. */
  hardLimit: number | null;
  softLimit: number | null;
  /** Set by the `decide` hooks before `settle` runs. */
  disposition: Disposition | null;
  /** The blocking monitor's record of this task while it runs on the event loop. */
  loopActivity: unknown;
  /**
   * Result tuples of what the worker sent for this task while settling it (its retry, callbacks, next
   * chain step, replacement): the middleware that send them push here before `results` stores the
   * final state, which lists them after the outcome's own children (Celery's `request.children`).
   */
  children: unknown[] | null;
}

/** A message the worker cannot run: it is failed (when its id is known) and dead-lettered. */
export interface Unusable {
  readonly delivery: Delivery;
  readonly kind: 'too-large' | 'undecodable' | 'unregistered' | 'internal';
  readonly error: Error;
  readonly id: string | null;
  readonly name: string | null;
  /** The decoded request, when decoding got that far (an unregistered task). */
  readonly request: TaskRequest | null;
}

/** What a middleware gets from the worker it runs in, once, at `workerInit`. */
export interface WorkerScope {
  readonly hostname: string;
  /** The app's settings with this worker's options applied; deeply frozen. */
  readonly conf: Readonly<Settings>;
  readonly broker: Broker;
  /** Null when the worker runs without a result backend. */
  readonly backend: ResultBackend | null;
  readonly logger: Logger;
  readonly tasks: ReadonlyMap<string, AnyTask>;
  readonly signals: Signals;
  /** The app's Lamport clock (events and remote-control replies carry it; mingle's `hello` sends it). */
  readonly clock: LamportClock;
  /** Passed as Celery's `sender` of worker signals. */
  readonly worker: WorkerInfo;
  /** Publish a signature with `prepend` before its args unless it is immutable (callbacks, chain steps). */
  apply(sig: SignatureJson, prepend: readonly unknown[], extra: SendOptions): Promise<string>;
  /** Publish a call of task `name` (retries); resolves with its task id. */
  send(name: string, args: unknown[], options: SendOptions): Promise<string>;
  /** The queue a call of `name` with `options` is routed to (call option, taskRoutes, task, default). */
  route(name: string, options: SendOptions): string;
  /** Hand back a run that `admit` held: it goes on to `beforeStart` and a pool slot. */
  resume(run: TaskRun): void;
  /** Count `work` as settling: a warm shutdown waits for it, and a rejection is logged. */
  track(work: Promise<void> | null): void;
  /**
   * Stop the running tasks with these ids in their pools (Pool.terminate) and settle them as REVOKED
   * (terminated); returns the ids found running or waiting for a slot. Call it after revoking the ids,
   * so those not started yet never start.
   */
  terminate(ids: ReadonlySet<string>, signal: { num: number; name: string }): string[];
}

/** Celery's signal `sender` for worker signals. */
export interface WorkerInfo {
  readonly hostname: string;
  /** The queues it consumes. */
  readonly queues: readonly string[];
  stats(): Record<string, unknown>;
}

/** What execution hooks see: the request and its task, in the process that runs it. */
export interface ExecRun {
  readonly request: TaskRequest;
  readonly task: AnyTask;
  /** `performance.now()` when the task was about to start. */
  readonly startedAt: number;
  readonly conf: Readonly<Settings>;
  readonly signals: Signals;
  /** The logger of the process that runs the task. */
  readonly logger: Logger;
}

/** A task message about to be, or just, published. */
export interface OutgoingTask {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly message: WireMessage;
}

/**
 * A middleware: what it declares (its task options) and the hooks of the process it lives in (running
 * tasks, publishing), plus `worker(scope)`, which a worker calls once when it starts to get this
 * middleware's hooks for that worker. Per-worker state (held runs, resolved per-task settings) lives in
 * what `worker` returns, so one app can run several workers in a process.
 */
export interface Middleware {
  /** Shown in logs when one of its hooks fails. */
  readonly name: string;
  /** Task options this middleware owns: `app.task()` accepts these; a misspelt one fails with a did-you-mean. */
  readonly taskOptions?: readonly (keyof TaskOptions | (string & {}))[];
  /** Check the values of the options it owns when a task is defined; throw a ConfigError naming the option. */
  checkTaskOptions?(taskName: string, options: Readonly<TaskOptions>): void;

  /**
   * The worker is starting (connected, pools up, not consuming yet): return this middleware's hooks for
   * it, with everything per task resolved now. Throwing stops the worker from starting.
   */
  worker?(scope: WorkerScope): WorkerMiddleware | undefined | Promise<WorkerMiddleware | undefined>;

  /** About to run the task function (where it runs). */
  beforeRun?(run: ExecRun): void;
  /** The task threw: return the Outcome it means (a retry), or nothing to let it fail. */
  taskError?(run: ExecRun, err: unknown): Outcome | null | undefined;
  /** The task function is done, whatever happened. */
  afterRun?(run: ExecRun, outcome: Outcome): void;

  /** A task message is built and about to be sent (headers may still be changed). */
  beforePublish?(task: OutgoingTask): void;
  /** The broker has accepted it. */
  afterPublish?(task: OutgoingTask): void;
}

/** One middleware's hooks in one worker (see the order at the top of this file). */
export interface WorkerMiddleware {
  /** The worker consumes. */
  ready?(): void;
  /** Every `workerHeartbeatInterval` seconds while the worker runs. */
  heartbeat?(): void;
  /** The worker stops: consuming has stopped, held runs went back, running tasks finished and settled. */
  stop?(): void | Promise<void>;

  /** A message that cannot run. Hooks run in order, each after the previous one's promise. */
  unusable?(u: Unusable): Promise<void> | null | undefined;
  /** Decoded and known. Return an Outcome to settle it without running (revoked, expired). */
  received?(run: TaskRun): Outcome | null | undefined;
  /** Due to run. Return false to hold it: the middleware then owns it and calls `scope.resume(run)`. */
  admit?(run: TaskRun): boolean | undefined;
  /** A pool slot is free for it. Return an Outcome to settle it without running. */
  beforeStart?(run: TaskRun): Outcome | null | undefined;
  /** The pool started it; `pid` is the child that runs it (prefork). */
  started?(run: TaskRun, info?: { pid: number }): void;
  /** `pool.run()` returned: on the event loop, the task's synchronous part has run. */
  launched?(run: TaskRun): void;
  /** The pool is done with it and its slot is free (its outcome is about to be settled). */
  finished?(run: TaskRun): void;
  /** `currentTask().updateState(state, meta)`. */
  updateState?(run: TaskRun, state: string, meta: unknown): Promise<void> | null | undefined;

  /** What to do with the message: the first hook that returns a Disposition decides. */
  decide?(run: TaskRun, outcome: Outcome): Disposition | null | undefined;
  /** Record the outcome (results, retries, callbacks). In order; a rejection requeues when not acked yet. */
  settle?(run: TaskRun, outcome: Outcome): Promise<void> | null | undefined;
  /** Acked or requeued; nothing more will happen to this run. */
  settled?(run: TaskRun, outcome: Outcome): void;

  /** Runs held now (for `inspect stats` and the autoscaler). */
  held?(): number;
  /** The runs held now, without releasing them (remote control's `inspect reserved`). */
  heldRuns?(): readonly TaskRun[];
  /** Shutdown: give back every held run; the consumer requeues them. */
  releaseHeld?(): TaskRun[];
  /** Merged into the worker's stats. */
  stats?(): Record<string, unknown>;
  /**
   * Remote-control commands this middleware answers, by Celery's method name (`rate_limit`,
   * `enable_events`, `revoke` …; celery-wire.md §6.4). The worker's mailbox (src/control/) dispatches
   * to them: the handler gets the request's `arguments` and returns the reply (`{ ok: … }`, a list …);
   * undefined replies null, as Celery's None does (`heartbeat`); nothing is sent when the request was a
   * cast. A throw replies `{ error: "<Name>('<message>')" }`, Python's repr of the exception.
   */
  readonly control?: Readonly<Record<string, ControlHandler>>;
}

/** One remote-control command of one worker (see WorkerMiddleware.control). */
export type ControlHandler = (args: Readonly<Record<string, unknown>>) => unknown | Promise<unknown>;
