/**
 * Runs one task and turns whatever happened into a serializable Outcome. Every pool runs tasks through an
 * Executor (in-process for async/solo, inside the child for prefork/threads), so results, retries,
 * rejects and errors behave the same whichever pool ran the task. It decides *what* happened; the
 * worker's middleware decide what to store and the consumer whether to ack.
 *
 * The core knows Celery's control exceptions (Reject, Ignore) and expected errors (`throws`); what an
 * error means beyond that (a retry, by `Retry` or `autoretryFor`) is the middleware's `taskError` hook.
 */
import type { Settings } from '../app/config.js';
import type { Signals } from '../app/signals.js';
import { Ignore, NotRegistered, Reject, Replaced, Retry } from '../errors.js';
import { ExecHooks } from '../middleware/hooks.js';
import type { ExecRun, Middleware } from '../middleware/middleware.js';
import type { ResultTuple } from '../protocol/canvas.js';
import type { SignatureJson, TaskRequest } from '../protocol/message.js';
import { bindArguments } from '../task/arguments.js';
import { type RetryOptions, type TrailingContext, taskStorage } from '../task/context.js';
import { errorMatches } from '../task/options.js';
import { failure, type Outcome } from '../task/outcome.js';
import type { AnyTask } from '../task/task.js';
import type { LazyAbort } from '../util/lazy-abort.js';
import type { Logger } from '../util/log.js';

/** Where `currentTask().updateState()` goes: the worker's Job (in-process) or an IPC call (child). */
export interface StateSink {
  updateState(state: string, meta: unknown): Promise<void>;
}

export interface ExecEnv {
  hostname: string;
  /** The task's abort handle; its signal is created only if the task reads it. */
  abort: LazyAbort;
  state: StateSink;
  /**
   * Called once, synchronously, just before the run's promise resolves (the async pool frees the slot
   * here, instead of in a `.then` of its own: one promise fewer per task).
   */
  settled?(): void;
}

/** One microtask step, as the frame this replaced took (see Executor.run). */
const passOn = (o: Outcome): Outcome => o;

function settled(env: ExecEnv, outcome: Outcome): Outcome {
  env.settled?.();
  return outcome;
}

/** What an executor needs of its app: the tasks, the settings and the middleware (for its hooks). */
export interface ExecApp {
  readonly tasks: ReadonlyMap<string, AnyTask>;
  readonly conf: Readonly<Settings>;
  readonly middleware: readonly Middleware[];
  readonly signals: Signals;
}

/** What every ExecContext of one executor shares. */
interface ExecutorShared {
  readonly conf: Readonly<Settings>;
  readonly signals: Signals;
  readonly logger: Logger;
}

/**
 * The context `currentTask()` returns, and the ExecRun the execution hooks see. A class rather than an
 * object literal: its methods live on the prototype, so a task costs one small object here instead of
 * an object and three closures (this runs for every task, thousands a second).
 */
class ExecContext implements TrailingContext, ExecRun {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly eta: Date | null;
  readonly parentId: string | null;
  readonly rootId: string;
  readonly groupId: string | null;
  readonly hostname: string;
  readonly request: TaskRequest;
  readonly task: AnyTask;
  readonly startedAt: number;
  /** What the task published (Celery's request.children), filled through `recordChild`. */
  children: ResultTuple[] | null = null;
  readonly #shared: ExecutorShared;
  readonly #env: ExecEnv;

  constructor(req: TaskRequest, task: AnyTask, ex: ExecutorShared, env: ExecEnv, startedAt: number) {
    this.id = req.id;
    this.name = req.name;
    this.retries = req.retries;
    this.args = req.args;
    this.kwargs = req.kwargs;
    this.eta = req.eta;
    this.parentId = req.parentId;
    this.rootId = req.rootId;
    this.groupId = req.group;
    this.hostname = env.hostname;
    this.request = req;
    this.task = task;
    this.#shared = ex;
    this.startedAt = startedAt;
    this.#env = env;
  }

  // The executor's, shared by every context: one field per task instead of three.
  get conf(): Readonly<Settings> {
    return this.#shared.conf;
  }
  get signals(): Signals {
    return this.#shared.signals;
  }
  get logger(): Logger {
    return this.#shared.logger;
  }

  get signal(): AbortSignal {
    return this.#env.abort.signal;
  }

  retry(o: RetryOptions = {}): Retry {
    return new Retry({
      countdown: o.countdown ?? null,
      eta: o.eta ?? null,
      exc: o.exc,
      maxRetries: o.maxRetries,
    });
  }

  updateState(state: string, meta?: unknown): Promise<void> {
    return this.#env.state.updateState(state, meta);
  }

  replace(sig: SignatureJson | { toJSON(): SignatureJson }): never {
    // Published by the worker once the task is over (callbacks middleware), so it works the same from a
    // pool child, which has no broker of its own to use. A canvas Signature travels as its Celery dict.
    const json =
      typeof (sig as { toJSON?: unknown }).toJSON === 'function'
        ? (sig as { toJSON(): SignatureJson }).toJSON()
        : (sig as SignatureJson);
    throw new Replaced(json);
  }
}

export class Executor {
  readonly #app: ExecApp;
  readonly #shared: ExecutorShared;
  readonly #hooks: ExecHooks;
  /** Whether any middleware has beforeRun/afterRun: the common path skips both loops. */
  readonly #wantsRun: boolean;

  constructor(app: ExecApp, logger: Logger) {
    this.#app = app;
    this.#shared = { conf: app.conf, signals: app.signals, logger };
    this.#hooks = new ExecHooks(app.middleware, logger);
    this.#wantsRun = this.#hooks.wantsRun;
  }

  /**
   * Run the task. The promise never rejects: whatever goes wrong, in the task or in a hook, is an Outcome.
   * Not an async function: one `.then` on the task's own promise instead of an async frame per task
   * (a suspended frame is a generator, its register file and two await closures: at 10,000 tasks in
   * flight, megabytes). The outcome reaches the caller as many microtasks after the task ends as it did
   * through the async frame and the async pool's own `.then` (that is what `passOn` is for: a shared
   * function, so the step costs a promise and no closure). Order matters on a broker that delivers
   * synchronously (memory): a retry re-sent with countdown 0 must not finish before the first run's
   * `settled` hooks (task_retry, task-retried) have run.
   */
  run(req: TaskRequest, env: ExecEnv): Promise<Outcome> {
    const started = performance.now();
    const task = this.#app.tasks.get(req.name);
    if (!task) return Promise.resolve(settled(env, failure(new NotRegistered(req.name), 0))).then(passOn);
    const ctx = new ExecContext(req, task, this.#shared, env, started);
    if (this.#wantsRun) {
      try {
        this.#hooks.beforeRun(ctx);
      } catch (err) {
        return Promise.resolve(settled(env, failure(err, 0))).then(passOn);
      }
    }
    let value: unknown;
    try {
      const args = bindArguments(req.name, task.fn, task.options.params, req.args, req.kwargs);
      value = taskStorage.run(ctx, task.fn, ...args);
    } catch (err) {
      return Promise.resolve(this.#finish(ctx, env, this.#failed(ctx, err))).then(passOn);
    }
    return Promise.resolve(value)
      .then(
        (v) => this.#finish(ctx, env, this.#succeeded(ctx, v)),
        (err: unknown) => this.#finish(ctx, env, this.#failed(ctx, err)),
      )
      .then(passOn);
  }

  #succeeded(ctx: ExecContext, value: unknown): Outcome {
    return {
      kind: 'success',
      value: value === undefined ? null : value,
      runtime: (performance.now() - ctx.startedAt) / 1000,
    };
  }

  #failed(ctx: ExecContext, err: unknown): Outcome {
    try {
      return this.#caught(ctx, ctx.task, err, (performance.now() - ctx.startedAt) / 1000);
    } catch (hookErr) {
      return failure(hookErr, 0);
    }
  }

  /** The children and the afterRun hooks, then the environment's `settled` (a hook that throws fails the run). */
  #finish(ctx: ExecContext, env: ExecEnv, outcome: Outcome): Outcome {
    let out = outcome;
    try {
      if (ctx.children?.length) out.children = ctx.children;
      if (this.#wantsRun) this.#hooks.afterRun(ctx, out);
    } catch (err) {
      out = failure(err, 0);
    }
    return settled(env, out);
  }

  #caught(ctx: ExecContext, task: AnyTask, err: unknown, runtime: number): Outcome {
    if (err instanceof Reject) return { kind: 'reject', requeue: err.requeue, reason: err.message, runtime };
    if (err instanceof Replaced) return { kind: 'ignore', runtime, replacement: { ...err.signature } };
    if (err instanceof Ignore) return { kind: 'ignore', runtime };
    const meant = this.#hooks.taskError(ctx, err);
    if (meant) return meant;
    // A Retry nobody handled (no retries middleware) fails with the error that caused it.
    const f = failure(err instanceof Retry && err.exc !== undefined ? err.exc : err, runtime);
    if (f.kind === 'failure' && errorMatches(err, task.options.throws)) f.expected = true;
    return f;
  }
}
