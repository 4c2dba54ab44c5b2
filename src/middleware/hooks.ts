/**
 * The hook arrays of one worker (or one pool child), built once from the app's middleware list, and the
 * loops that call them. Per task nothing is allocated here: each loop walks a prebuilt array of the
 * middleware that implement that hook. Failures are contained: a hook that throws is logged with its
 * middleware's name and the task id, and the task goes on as if the hook had returned nothing (a
 * throwing `settle` counts as a failed record, which the consumer handles like a backend that is down).
 */
import type { Outcome } from '../task/outcome.js';
import type { Logger } from '../util/log.js';
import type {
  ControlHandler,
  Disposition,
  ExecRun,
  Middleware,
  OutgoingTask,
  TaskRun,
  Unusable,
  WorkerMiddleware,
} from './middleware.js';

type Fn = (...args: never[]) => unknown;
type HooksOf<T> = { [K in keyof T]-?: NonNullable<T[K]> extends Fn ? K : never }[keyof T];

function having(list: readonly Middleware[], hook: HooksOf<Middleware>): Middleware[] {
  return list.filter((m) => typeof m[hook] === 'function');
}

/** One middleware's hooks in one worker, with the name its failures are logged under. */
export interface BoundMiddleware {
  readonly name: string;
  readonly hooks: WorkerMiddleware;
}

function bound(list: readonly BoundMiddleware[], hook: HooksOf<WorkerMiddleware>): WorkerMiddleware[] {
  return list.filter((b) => typeof b.hooks[hook] === 'function').map((b) => b.hooks);
}

/** Hooks of the worker process: lifecycle, intake, settling. */
export class WorkerHooks {
  readonly #logger: Logger;
  readonly #names = new Map<WorkerMiddleware, string>();
  readonly #ready: WorkerMiddleware[];
  readonly #heartbeat: WorkerMiddleware[];
  readonly #stop: WorkerMiddleware[];
  readonly #unusable: WorkerMiddleware[];
  readonly #received: WorkerMiddleware[];
  readonly #admit: WorkerMiddleware[];
  readonly #beforeStart: WorkerMiddleware[];
  readonly #started: WorkerMiddleware[];
  readonly #launched: WorkerMiddleware[];
  readonly #finished: WorkerMiddleware[];
  readonly #updateState: WorkerMiddleware[];
  readonly #decide: WorkerMiddleware[];
  readonly #settle: WorkerMiddleware[];
  readonly #settled: WorkerMiddleware[];
  readonly #held: WorkerMiddleware[];
  readonly #releaseHeld: WorkerMiddleware[];
  readonly #stats: WorkerMiddleware[];
  readonly #heldRuns: WorkerMiddleware[];
  readonly #list: readonly BoundMiddleware[];
  /** True when some middleware runs after `pool.run()` returns (the blocking monitor does). */
  readonly wantsLaunched: boolean;
  readonly wantsHeartbeat: boolean;

  constructor(list: readonly BoundMiddleware[], logger: Logger) {
    this.#logger = logger;
    for (const b of list) this.#names.set(b.hooks, b.name);
    this.#ready = bound(list, 'ready');
    this.#heartbeat = bound(list, 'heartbeat');
    this.#stop = bound(list, 'stop');
    this.#unusable = bound(list, 'unusable');
    this.#received = bound(list, 'received');
    this.#admit = bound(list, 'admit');
    this.#beforeStart = bound(list, 'beforeStart');
    this.#started = bound(list, 'started');
    this.#launched = bound(list, 'launched');
    this.#finished = bound(list, 'finished');
    this.#updateState = bound(list, 'updateState');
    this.#decide = bound(list, 'decide');
    this.#settle = bound(list, 'settle');
    this.#settled = bound(list, 'settled');
    this.#held = bound(list, 'held');
    this.#releaseHeld = bound(list, 'releaseHeld');
    this.#stats = bound(list, 'stats');
    this.#heldRuns = bound(list, 'heldRuns');
    this.#list = list;
    this.wantsLaunched = this.#launched.length > 0;
    this.wantsHeartbeat = this.#heartbeat.length > 0;
  }

  #failed(m: WorkerMiddleware, hook: string, err: unknown, taskId?: string): void {
    const what = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.#logger.log(
      'error',
      `middleware ${this.#names.get(m) ?? '?'}: ${hook} failed${taskId ? ` for task ${taskId}` : ''}: ${what}`,
    );
  }

  ready(): void {
    for (const m of this.#ready) {
      try {
        m.ready?.();
      } catch (err) {
        this.#failed(m, 'ready', err);
      }
    }
  }

  heartbeat(): void {
    for (const m of this.#heartbeat) {
      try {
        m.heartbeat?.();
      } catch (err) {
        this.#failed(m, 'heartbeat', err);
      }
    }
  }

  async stop(): Promise<void> {
    for (const m of this.#stop) {
      try {
        await m.stop?.();
      } catch (err) {
        this.#failed(m, 'stop', err);
      }
    }
  }

  /** Run the `unusable` hooks in order, each after the previous one's promise. */
  async unusable(u: Unusable): Promise<void> {
    for (const m of this.#unusable) {
      try {
        await m.unusable?.(u);
      } catch (err) {
        this.#failed(m, 'unusable', err, u.id ?? undefined);
      }
    }
  }

  /** The first Outcome a `received` hook returns, or null to go on. */
  received(run: TaskRun): Outcome | null {
    for (const m of this.#received) {
      try {
        const o = m.received?.(run);
        if (o) return o;
      } catch (err) {
        this.#failed(m, 'received', err, run.request.id);
      }
    }
    return null;
  }

  /** False when a middleware holds the run (it resumes it later). */
  admit(run: TaskRun): boolean {
    for (const m of this.#admit) {
      try {
        if (m.admit?.(run) === false) return false;
      } catch (err) {
        this.#failed(m, 'admit', err, run.request.id);
      }
    }
    return true;
  }

  beforeStart(run: TaskRun): Outcome | null {
    for (const m of this.#beforeStart) {
      try {
        const o = m.beforeStart?.(run);
        if (o) return o;
      } catch (err) {
        this.#failed(m, 'beforeStart', err, run.request.id);
      }
    }
    return null;
  }

  started(run: TaskRun, info?: { pid: number }): void {
    for (const m of this.#started) {
      try {
        m.started?.(run, info);
      } catch (err) {
        this.#failed(m, 'started', err, run.request.id);
      }
    }
  }

  launched(run: TaskRun): void {
    for (const m of this.#launched) {
      try {
        m.launched?.(run);
      } catch (err) {
        this.#failed(m, 'launched', err, run.request.id);
      }
    }
  }

  finished(run: TaskRun): void {
    for (const m of this.#finished) {
      try {
        m.finished?.(run);
      } catch (err) {
        this.#failed(m, 'finished', err, run.request.id);
      }
    }
  }

  updateState(run: TaskRun, state: string, meta: unknown): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const m of this.#updateState) {
      const p = m.updateState?.(run, state, meta);
      if (p) pending.push(p);
    }
    return pending.length === 1 ? (pending[0] as Promise<void>) : Promise.all(pending).then(() => {});
  }

  /** The first Disposition a `decide` hook returns, or `fallback`. */
  decide(run: TaskRun, outcome: Outcome, fallback: Disposition): Disposition {
    for (const m of this.#decide) {
      try {
        const d = m.decide?.(run, outcome);
        if (d) return d;
      } catch (err) {
        this.#failed(m, 'decide', err, run.request.id);
      }
    }
    return fallback;
  }

  /**
   * Run the `settle` hooks from index `from`, in order, each after the previous one's promise, then
   * `done`; null when everything finished synchronously (the common case allocates nothing here). A hook
   * that throws or rejects ends the run in `failed` (the record is incomplete: the consumer decides).
   */
  settle(
    run: TaskRun,
    outcome: Outcome,
    from: number,
    done: (run: TaskRun, outcome: Outcome) => Promise<void> | null,
    failed: (run: TaskRun, err: unknown) => Promise<void>,
  ): Promise<void> | null {
    const list = this.#settle;
    for (let i = from; i < list.length; i++) {
      let p: Promise<void> | null | undefined;
      try {
        p = (list[i] as WorkerMiddleware).settle?.(run, outcome);
      } catch (err) {
        return failed(run, err);
      }
      if (p) {
        const next = i + 1;
        return p.then(
          () => this.settle(run, outcome, next, done, failed) ?? undefined,
          (err: unknown) => failed(run, err),
        );
      }
    }
    try {
      return done(run, outcome);
    } catch (err) {
      return failed(run, err);
    }
  }

  settled(run: TaskRun, outcome: Outcome): void {
    for (const m of this.#settled) {
      try {
        m.settled?.(run, outcome);
      } catch (err) {
        this.#failed(m, 'settled', err, run.request.id);
      }
    }
  }

  held(): number {
    let n = 0;
    for (const m of this.#held) n += m.held?.() ?? 0;
    return n;
  }

  releaseHeld(): TaskRun[] {
    const out: TaskRun[] = [];
    for (const m of this.#releaseHeld) out.push(...(m.releaseHeld?.() ?? []));
    return out;
  }

  /** The runs middleware hold now (remote control's `reserved`). */
  heldRuns(): TaskRun[] {
    const out: TaskRun[] = [];
    for (const m of this.#heldRuns) {
      try {
        out.push(...(m.heldRuns?.() ?? []));
      } catch (err) {
        this.#failed(m, 'heldRuns', err);
      }
    }
    return out;
  }

  /**
   * Every middleware's remote-control commands, by method name, for the worker's mailbox; a later
   * middleware's command replaces an earlier one's of the same name (and `over`, the worker's own).
   */
  controls(over: ReadonlyMap<string, ControlHandler> = new Map()): Map<string, ControlHandler> {
    const out = new Map(over);
    for (const b of this.#list) {
      for (const [method, handler] of Object.entries(b.hooks.control ?? {})) {
        if (out.has(method)) this.#logger.log('debug', `remote control: ${b.name} answers ${method}`);
        out.set(method, handler);
      }
    }
    return out;
  }

  stats(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const m of this.#stats) {
      try {
        Object.assign(out, m.stats?.());
      } catch (err) {
        this.#failed(m, 'stats', err);
      }
    }
    return out;
  }
}

/** Hooks of the process that runs tasks (the worker for async/solo, each child for prefork/threads). */
export class ExecHooks {
  readonly #logger: Logger;
  readonly #beforeRun: Middleware[];
  readonly #taskError: Middleware[];
  readonly #afterRun: Middleware[];

  constructor(list: readonly Middleware[], logger: Logger) {
    this.#logger = logger;
    this.#beforeRun = having(list, 'beforeRun');
    this.#taskError = having(list, 'taskError');
    this.#afterRun = having(list, 'afterRun');
  }

  get wantsRun(): boolean {
    return this.#beforeRun.length > 0 || this.#afterRun.length > 0;
  }

  #failed(m: Middleware, hook: string, err: unknown, taskId: string): void {
    const what = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.#logger.log('error', `middleware ${m.name}: ${hook} failed for task ${taskId}: ${what}`);
  }

  beforeRun(run: ExecRun): void {
    for (const m of this.#beforeRun) {
      try {
        m.beforeRun?.(run);
      } catch (err) {
        this.#failed(m, 'beforeRun', err, run.request.id);
      }
    }
  }

  /** What the error means (a retry), or null: the task failed. */
  taskError(run: ExecRun, err: unknown): Outcome | null {
    for (const m of this.#taskError) {
      try {
        const o = m.taskError?.(run, err);
        if (o) return o;
      } catch (e) {
        this.#failed(m, 'taskError', e, run.request.id);
      }
    }
    return null;
  }

  afterRun(run: ExecRun, outcome: Outcome): void {
    for (const m of this.#afterRun) {
      try {
        m.afterRun?.(run, outcome);
      } catch (err) {
        this.#failed(m, 'afterRun', err, run.request.id);
      }
    }
  }
}

/** Hooks of publishing; rebuilt whenever `app.use()` adds a middleware. */
export class PublishHooks {
  readonly #before: Middleware[];
  readonly #after: Middleware[];
  readonly any: boolean;

  constructor(list: readonly Middleware[]) {
    this.#before = having(list, 'beforePublish');
    this.#after = having(list, 'afterPublish');
    this.any = this.#before.length > 0 || this.#after.length > 0;
  }

  /** Not contained: a publish hook that throws fails the publish, as a serializer error would. */
  before(task: OutgoingTask): void {
    for (const m of this.#before) m.beforePublish?.(task);
  }

  after(task: OutgoingTask): void {
    for (const m of this.#after) m.afterPublish?.(task);
  }
}
