/**
 * The `async` pool (aliases `eventlet`, `gevent`): up to `concurrency` tasks at once on this process's
 * event loop: the green-thread pool of Celery, without monkey patching. `solo` is the same with one slot.
 *
 * Time limits: the soft limit aborts the task's `signal` with SoftTimeLimitExceeded; the hard limit fails
 * the task with TimeLimitExceeded, aborts its signal and frees its slot at once. What it cannot do: stop
 * code that never yields (a synchronous loop) — nothing on the event loop can. Such tasks belong in the
 * prefork or threads pool, where the hard limit kills the process or thread.
 *
 * Terminate (revoke with terminate): the same as the hard limit: the task's signal is aborted with
 * TaskRevokedError('terminated'), its slot is free at once and its outcome is REVOKED; whatever the task
 * does afterwards is ignored. No OS signal is sent: the signal asked for is only reported (`signum`).
 */
import { SoftTimeLimitExceeded, TaskRevokedError, TimeLimitExceeded } from '../../errors.js';
import { failure, type Outcome } from '../../task/outcome.js';
import { LazyAbort } from '../../util/lazy-abort.js';
import { setLongTimeout } from '../../util/long-timeout.js';
import { type ExecEnv, Executor } from '../executor.js';
import type { Job, Pool, PoolContext, PoolStats } from './pool.js';

export class AsyncPool implements Pool {
  readonly implementation: string;
  readonly onLoop = true;
  #concurrency: number;
  #active = 0;
  readonly #ctx: PoolContext;
  readonly #executor: Executor;
  /** The abort handle of each running job; a job leaves it once, when it finishes or is terminated. */
  readonly #running = new Map<Job, LazyAbort>();
  /** `#release`, bound once for every PlainRun. */
  readonly #releaser = (job: Job): void => this.#release(job);

  constructor(ctx: PoolContext, implementation = 'async') {
    this.#ctx = ctx;
    this.#executor = new Executor(ctx.app, ctx.logger);
    this.#concurrency = ctx.concurrency;
    this.implementation = implementation;
  }

  get concurrency(): number {
    return this.#concurrency;
  }
  get active(): number {
    return this.#active;
  }
  get resizable(): boolean {
    return this.implementation !== 'solo';
  }

  async start(): Promise<void> {}

  run(job: Job): Promise<Outcome> {
    this.#active++;
    const controller = new LazyAbort();
    this.#running.set(job, controller);
    job.onStart();
    if (job.hardLimit === null && job.softLimit === null) {
      // The common case: no timers, and one async frame per task (this is the hot path).
      return this.#runPlain(job, controller);
    }
    const task = this.#executor
      .run(job.request, {
        hostname: this.#ctx.hostname,
        abort: controller,
        state: job,
      })
      .catch((err: unknown) => failure(err, 0));
    return new Promise<Outcome>((resolve) => {
      const started = performance.now();
      const soft =
        job.softLimit !== null
          ? setLongTimeout(
              () => controller.abort(new SoftTimeLimitExceeded(job.softLimit as number)),
              job.softLimit * 1000,
            )
          : null;
      const hard =
        job.hardLimit !== null
          ? setLongTimeout(() => {
              const err = new TimeLimitExceeded(job.hardLimit as number);
              controller.abort(err);
              // The task may go on in the background; its slot and its result are released now.
              // At least the limit (libuv's timer clock can run a hair behind performance.now()).
              const ran = Math.max(job.hardLimit as number, (performance.now() - started) / 1000);
              finish(failure(err, ran, 'timeout'));
            }, job.hardLimit * 1000)
          : null;
      let settled = false;
      const finish = (o: Outcome) => {
        if (settled) return;
        settled = true;
        soft?.clear();
        hard?.clear();
        this.#release(job);
        resolve(o);
      };
      task.then(finish);
    });
  }

  #runPlain(job: Job, controller: LazyAbort): Promise<Outcome> {
    // The executor's promise never rejects, and it frees the slot through the environment's `settled`
    // when the task ends: no `.then` of the pool's own per task (a promise, its reaction, two closures and
    // their context: ~330 B, 3 MB at 10,000 in flight; the executor keeps its microtask step for order).
    return this.#executor.run(job.request, new PlainRun(this.#ctx.hostname, controller, job, this.#releaser));
  }

  /** Free the job's slot, once: a terminated job's late end frees nothing. */
  #release(job: Job): void {
    if (this.#running.delete(job)) this.#active--;
  }

  terminate(job: Job, signal: { num: number }): Outcome | null {
    const controller = this.#running.get(job);
    if (!controller) return null;
    this.#release(job);
    controller.abort(new TaskRevokedError('terminated'));
    return { kind: 'revoked', expired: false, terminated: true, signum: signal.num, runtime: 0 };
  }

  grow(n: number): void {
    if (this.implementation === 'solo') return; // solo is one slot by definition, as in Celery
    this.#concurrency += n;
  }

  shrink(n: number): void {
    if (this.implementation === 'solo') return;
    this.#concurrency = Math.max(1, this.#concurrency - n);
  }

  terminateAll(reason: Error): void {
    for (const c of this.#running.values()) c.abort(reason);
  }

  async stop(): Promise<void> {}

  stats(): PoolStats {
    return {
      implementation: `celeriac.pools.${this.implementation}`,
      'max-concurrency': this.#concurrency,
      processes: [process.pid],
      'running-threads': this.#active,
      'free-threads': this.#concurrency - this.#active,
    };
  }
}

/** The environment of a task without time limits; `settled` frees its slot (ExecEnv.settled). */
class PlainRun implements ExecEnv {
  constructor(
    readonly hostname: string,
    readonly abort: LazyAbort,
    readonly state: Job,
    readonly release: (job: Job) => void,
  ) {}

  settled(): void {
    this.release(this.state);
  }
}

export function createAsyncPool(ctx: PoolContext): Pool {
  return new AsyncPool(ctx);
}

/** One task at a time, on the event loop. */
export function createSoloPool(ctx: PoolContext): Pool {
  return new AsyncPool({ ...ctx, concurrency: 1 }, 'solo');
}
