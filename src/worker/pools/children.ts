/**
 * The pool of children behind `prefork` (processes) and `threads` (worker_threads). Responsibilities:
 *  - keep `size` live children, each running up to `childConcurrency` jobs; hand a job only to a ready
 *    child with a free slot, the least busy first (with childConcurrency 1: idle children only);
 *  - hold jobs in arrival order while no child has room (e.g. a replacement is still booting);
 *  - hard time limit: fail the job with TimeLimitExceeded and kill its child, whatever it is doing (a
 *    `while (true) {}` included); the child's other jobs, if any, fail with WorkerLostError;
 *  - terminate (revoke --terminate): the job is REVOKED at once, its child is signalled (processes) or
 *    terminated (threads) and replaced, like the hard limit; the child's other jobs fail as lost;
 *  - a child that dies mid-task fails its jobs with WorkerLostError (reason 'worker-lost': the acks middleware
 *    requeues them for acksLate + rejectOnWorkerLost) and is replaced;
 *  - recycle a child after maxTasksPerChild tasks, or after a task that left it over maxMemoryPerChild;
 *  - grow and shrink by whole children (autoscale), never killing a busy child to shrink.
 * How a child is made, spoken to and killed is the Spawner's business (the contract and the pool's options
 * are in spawner.ts; prefork.ts and threads.ts implement it); what a child does is child.ts; the record
 * the pool keeps of each child and job, and the choice of child for a job, are in child-record.ts.
 * The soft time limit is enforced inside the child.
 */
import { CeleriacError, ConfigError, TimeLimitExceeded, WorkerLostError } from '../../errors.js';
import { failure, type Outcome } from '../../task/outcome.js';
import { Deque } from '../../util/deque.js';
import { setLongTimeout } from '../../util/long-timeout.js';
import { type Child, deferred, elapsed, pickChild, type Running, type Waiting } from './child-record.js';
import type { ChildInit, FromChild } from './ipc.js';
import type { Job, Pool, PoolContext, PoolStats } from './pool.js';
import { type ChildHandle, type ChildPoolOptions, childPoolOptions, type Spawner } from './spawner.js';

const RESPAWN_BACKOFF_MAX_MS = 10_000;

export class ChildPool implements Pool {
  readonly implementation: string;
  readonly growStep: number;
  readonly onLoop = false;
  readonly #ctx: PoolContext;
  readonly #spawner: Spawner;
  readonly #opts: ChildPoolOptions;
  readonly #init: ChildInit;
  readonly #children = new Set<Child>();
  readonly #waiting = new Deque<Waiting>();
  #size: number;
  #active = 0;
  #seq = 0;
  /** No more children are made: stopping, or a cold shutdown killed them. */
  #closed = false;
  #respawnTimers = new Set<NodeJS.Timeout>();
  #bootFailures = 0;
  #exited: Array<() => void> = [];
  readonly #counters = { replaced: 0, lost: 0, killed: 0, terminated: 0 };

  constructor(ctx: PoolContext, spawner: Spawner) {
    if (!ctx.appModule) {
      throw new ConfigError(
        `the ${spawner.implementation} pool loads the app in each child and needs its module: start the worker with -A ./tasks.ts, or pass appModule (e.g. app.worker({ appModule: import.meta.url }))`,
      );
    }
    this.#ctx = ctx;
    this.#spawner = spawner;
    this.#opts = childPoolOptions(ctx.options);
    this.#init = {
      appModule: ctx.appModule,
      hostname: ctx.hostname,
      measureMemory: this.#opts.maxMemoryPerChild != null,
    };
    this.implementation = spawner.implementation;
    this.growStep = this.#opts.childConcurrency;
    this.#size = ctx.concurrency;
  }

  get concurrency(): number {
    return this.#size * this.#opts.childConcurrency;
  }
  get active(): number {
    return this.#active;
  }

  /** Boot every child; fails with the first child's boot error (e.g. the app module does not load). */
  async start(): Promise<void> {
    const boots = Array.from({ length: this.#size }, () => this.#spawn().booted.promise);
    try {
      await Promise.all(boots);
    } catch (err) {
      await this.stop();
      throw new CeleriacError(
        'E_POOL_START',
        `the ${this.implementation} pool could not start: ${(err as Error).message}`,
      );
    }
  }

  run(job: Job): Promise<Outcome> {
    this.#active++;
    return new Promise<Outcome>((resolve) => {
      if (this.#closed) {
        this.#active--;
        resolve(failure(new WorkerLostError(`the ${this.implementation} pool is stopped`), 0, 'worker-lost'));
        return;
      }
      this.#waiting.push({ job, resolve });
      this.#dispatch();
    });
  }

  grow(n: number): void {
    if (this.#closed || n <= 0) return;
    this.#size += n;
    for (let i = 0; i < n; i++) this.#spawn();
  }

  /** Remove n children (at least one stays): booting and idle ones first; busy ones finish their jobs. */
  shrink(n: number): void {
    const remove = Math.min(n, this.#size - 1);
    if (remove <= 0) return;
    this.#size -= remove;
    const rank = (c: Child) => (c.state === 'starting' ? -1 : c.jobs.size);
    const live = [...this.#children].filter((c) => c.state !== 'leaving').sort((a, b) => rank(a) - rank(b));
    for (const c of live.slice(0, remove)) this.#retire(c, { replace: false, kill: c.state === 'starting' });
  }

  /** Cold shutdown: kill every child now; their jobs resolve with `reason` as lost. */
  terminateAll(reason: Error): void {
    this.#closed = true;
    this.#clearRespawns();
    for (const w of this.#drainWaiting()) w.resolve(failure(reason, 0, 'worker-lost'));
    for (const c of this.#children) {
      for (const r of c.jobs.values()) this.#finish(r, failure(reason, elapsed(r), 'worker-lost'));
      c.jobs.clear();
      c.state = 'leaving';
      c.handle.kill();
    }
  }

  /** Revoke with terminate: the job is REVOKED now; its child is stopped (see Pool.terminate) and replaced. */
  terminate(job: Job, signal: { num: number; name: string }): Outcome | null {
    const revoked = (runtime: number): Outcome => ({
      kind: 'revoked',
      expired: false,
      terminated: true,
      signum: signal.num,
      runtime,
    });
    // Still waiting for a child (a replacement is booting): it never reaches one.
    const [waiting] = this.#waiting.removeWhere((w) => w.job === job);
    if (waiting) {
      const o = revoked(0);
      this.#active--;
      waiting.resolve(o);
      return o;
    }
    for (const child of this.#children) {
      for (const r of child.jobs.values()) {
        if (r.job !== job) continue;
        const req = job.request;
        this.#counters.terminated++;
        const how =
          this.#spawner.implementation === 'threads'
            ? `terminating thread ${child.id} (${signal.name} does not apply to a thread)`
            : `sending ${signal.name} to process ${child.id}`;
        this.#ctx.logger.log('info', `Terminating ${req.name}[${req.id}]: ${how}`);
        child.jobs.delete(r.seq);
        const o = revoked(elapsed(r));
        this.#finish(r, o);
        this.#retire(child, { replace: true, kill: false });
        child.handle.kill(signal.num);
        return o;
      }
    }
    return null;
  }

  /** Idle children exit on request; any still busy (past the shutdown timeout) are killed. */
  async stop(): Promise<void> {
    this.#closed = true;
    this.#clearRespawns();
    for (const w of this.#drainWaiting())
      w.resolve(failure(new WorkerLostError('the pool stopped before the task started'), 0, 'worker-lost'));
    if (!this.#children.size) return;
    const gone = new Promise<void>((resolve) => this.#exited.push(resolve));
    for (const c of this.#children) {
      const busy = c.jobs.size > 0 || c.state === 'starting';
      c.state = 'leaving';
      if (busy) c.handle.kill();
      else c.handle.send({ type: 'shutdown' });
    }
    // A child that ignores the shutdown request is killed after the grace period.
    const timer = setTimeout(() => {
      for (const c of this.#children) c.handle.kill();
    }, this.#opts.killGrace + 1000);
    await gone;
    clearTimeout(timer);
  }

  stats(): PoolStats {
    const ready = [...this.#children].filter((c) => c.id !== null);
    const ids = ready.map((c) => c.id as number);
    const threads = this.implementation === 'threads';
    return {
      implementation: `celeriac.pools.${this.implementation}`,
      'max-concurrency': this.concurrency,
      processes: threads ? [process.pid] : ids,
      ...(threads ? { threads: ids } : {}),
      'child-concurrency': this.#opts.childConcurrency,
      'max-tasks-per-child': this.#opts.maxTasksPerChild ?? 'N/A',
      'max-memory-per-child': this.#opts.maxMemoryPerChild ?? 'N/A',
      children: ready.map((c) => ({ id: c.id, state: c.state, active: c.jobs.size, tasks: c.tasks })),
      waiting: this.#waiting.length,
      replaced: this.#counters.replaced,
      lost: this.#counters.lost,
      killed: this.#counters.killed,
      terminated: this.#counters.terminated,
    };
  }

  #spawn(): Child {
    const child: Child = {
      handle: undefined as unknown as ChildHandle,
      id: null,
      state: 'starting',
      jobs: new Map(),
      tasks: 0,
      bootError: null,
      booted: deferred(),
    };
    // Replacements are not awaited by anyone: their boot failure is handled in #onExit.
    child.booted.promise.catch(() => {});
    (child as { handle: ChildHandle }).handle = this.#spawner.spawn(
      this.#init,
      { message: (m) => this.#onMessage(child, m), exit: (how) => this.#onExit(child, how) },
      this.#opts,
    );
    this.#children.add(child);
    return child;
  }

  #onMessage(child: Child, m: FromChild): void {
    switch (m.type) {
      case 'ready':
        child.id = m.id;
        this.#bootFailures = 0;
        child.booted.resolve();
        if (child.state === 'starting') child.state = 'ready';
        else child.handle.send({ type: 'shutdown' }); // shrunk or stopped while booting
        this.#dispatch();
        return;
      case 'outcome': {
        const r = child.jobs.get(m.seq);
        if (!r) return; // already failed by its hard time limit; the child is being killed
        child.jobs.delete(m.seq);
        this.#finish(r, m.outcome);
        const max = this.#opts.maxMemoryPerChild;
        if (max !== null && m.memory > max && child.state === 'ready') {
          this.#ctx.logger.log(
            'warn',
            `${this.#spawner.noun} ${child.id} exiting after exceeding the memory limit (${m.memory}KiB / ${max}KiB)`,
          );
          this.#retire(child, { replace: true, kill: false });
        } else if (child.state === 'leaving' && child.jobs.size === 0) {
          child.handle.send({ type: 'shutdown' });
        }
        this.#dispatch();
        return;
      }
      case 'updateState': {
        const r = child.jobs.get(m.seq);
        const done = (error: string | null) => child.handle.send({ type: 'stateDone', call: m.call, error });
        if (!r) {
          done('the task is no longer running');
          return;
        }
        r.job.updateState(m.state, m.meta).then(
          () => done(null),
          (err: Error) => done(err.message ?? String(err)),
        );
        return;
      }
      case 'error':
        child.bootError = m.message;
        this.#ctx.logger.log('error', `${this.#spawner.noun} failed to start: ${m.stack ?? m.message}`);
        return;
    }
  }

  #onExit(child: Child, how: string): void {
    this.#children.delete(child);
    const wasLive = child.state !== 'leaving';
    const booted = child.id !== null;
    if (!booted) child.booted.reject(new Error(child.bootError ?? `a child exited while starting (${how})`));
    for (const r of child.jobs.values()) {
      this.#counters.lost++;
      const req = r.job.request;
      this.#ctx.logger.log(
        'error',
        `${this.#spawner.noun} ${child.id} running ${req.name}[${req.id}] exited prematurely (${how})`,
      );
      const err = new WorkerLostError(`Worker exited prematurely: ${how}.`);
      this.#finish(r, failure(err, elapsed(r), 'worker-lost'));
    }
    child.jobs.clear();
    if (wasLive && !this.#closed) {
      if (booted) {
        this.#ctx.logger.log('error', `${this.#spawner.noun} ${child.id} exited (${how}); replacing it`);
        this.#spawn();
      } else {
        // Boot failed (the app module throws?): retry with back-off rather than fork in a tight loop.
        const delay = Math.min(RESPAWN_BACKOFF_MAX_MS, 250 * 2 ** this.#bootFailures++);
        const t = setTimeout(() => {
          this.#respawnTimers.delete(t);
          if (!this.#closed) this.#spawn();
        }, delay);
        this.#respawnTimers.add(t);
      }
    }
    this.#dispatch();
    if (!this.#children.size) for (const w of this.#exited.splice(0)) w();
  }

  #dispatch(): void {
    while (this.#waiting.length) {
      const child = pickChild(this.#children, this.#opts.childConcurrency);
      if (!child) return;
      this.#send(child, this.#waiting.shift() as Waiting);
    }
  }

  #send(child: Child, w: Waiting): void {
    const r: Running = { ...w, seq: ++this.#seq, child, started: performance.now(), hard: null };
    child.jobs.set(r.seq, r);
    child.tasks++;
    w.job.onStart(this.implementation === 'prefork' ? { pid: child.id as number } : undefined);
    child.handle.send({ type: 'run', seq: r.seq, request: w.job.request, softLimit: w.job.softLimit });
    const hard = w.job.hardLimit;
    if (hard !== null) r.hard = setLongTimeout(() => this.#hardTimeout(r, hard), hard * 1000);
    const max = this.#opts.maxTasksPerChild;
    // Recycle after its last task: it takes no more work and exits once this one is done.
    if (max !== null && child.tasks >= max) this.#retire(child, { replace: true, kill: false });
  }

  #hardTimeout(r: Running, seconds: number): void {
    const { child } = r;
    const req = r.job.request;
    this.#counters.killed++;
    this.#ctx.logger.log(
      'error',
      `Hard time limit (${seconds}s) exceeded for ${req.name}[${req.id}]; killing ${this.#spawner.noun} ${child.id}`,
    );
    child.jobs.delete(r.seq);
    // At least the limit: libuv fires timers by its cached loop clock, which can run a hair behind the
    // performance.now() taken at the start, so the measured time can come out a fraction of a ms short.
    this.#finish(r, failure(new TimeLimitExceeded(seconds), Math.max(seconds, elapsed(r)), 'timeout'));
    // Only killing stops a synchronous loop. Its other jobs fail as lost when it exits.
    this.#retire(child, { replace: true, kill: true });
  }

  /** Take a child out of service; a replacement is made now so capacity does not dip while it leaves. */
  #retire(child: Child, how: { replace: boolean; kill: boolean }): void {
    if (child.state !== 'leaving') {
      const wasReady = child.state === 'ready';
      child.state = 'leaving';
      if (how.replace && !this.#closed) {
        this.#counters.replaced++;
        this.#spawn();
      }
      if (!how.kill && wasReady && child.jobs.size === 0) child.handle.send({ type: 'shutdown' });
    }
    // Even a child already leaving (its last task before recycling) is killed on a hard time limit.
    if (how.kill) child.handle.kill();
  }

  #finish(r: Running | Waiting, outcome: Outcome): void {
    if ('hard' in r && r.hard) r.hard.clear();
    this.#active--;
    r.resolve(outcome);
  }

  #drainWaiting(): Waiting[] {
    const all: Waiting[] = [];
    while (this.#waiting.length) all.push(this.#waiting.shift() as Waiting);
    this.#active -= all.length;
    return all;
  }

  #clearRespawns(): void {
    for (const t of this.#respawnTimers) clearTimeout(t);
    this.#respawnTimers.clear();
  }
}
