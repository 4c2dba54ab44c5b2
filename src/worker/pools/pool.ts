/**
 * The Pool contract: where tasks run. The worker hands a pool one Job at a time, only while
 * `active < concurrency`, and gets back an Outcome (worker/executor.ts). Pools own time limits, because
 * only they know how to stop what they run (abort a signal, kill a child, terminate a thread).
 * Every pool runs the pool conformance suite (test/conformance/pool.ts). The pools themselves are
 * looked up by name in registry.ts.
 */
import type { TaskRequest } from '../../protocol/message.js';
import type { Outcome } from '../../task/outcome.js';
import type { Logger } from '../../util/log.js';
import type { ExecApp } from '../executor.js';

export interface Job {
  request: TaskRequest;
  /** Seconds; null for none. Resolved by the worker: message header, then task option, then setting. */
  hardLimit: number | null;
  softLimit: number | null;
  /**
   * Called when the task really starts (the worker acks then unless acksLate). `pid`: the process that
   * runs it, when not the worker's own (prefork), for the STARTED state.
   */
  onStart(info?: { pid: number }): void;
  /** Store a custom state for the running task (currentTask().updateState). */
  updateState(state: string, meta: unknown): Promise<void>;
}

export interface PoolStats {
  implementation: string;
  'max-concurrency': number;
  processes: number[];
  [key: string]: unknown;
}

export interface Pool {
  readonly implementation: string;
  /** Most jobs running at once. */
  readonly concurrency: number;
  /** Jobs running now. */
  readonly active: number;
  /** Slots that grow(1) adds: 1, or childConcurrency for prefork/threads (whose grow(n) adds children). @defaultValue 1 */
  readonly growStep?: number;
  /** True when jobs run on this process's event loop (async, solo): the blocking monitor watches those. */
  readonly onLoop?: boolean;
  /** False when grow/shrink do nothing (solo: one slot by definition, as in Celery). @defaultValue true */
  readonly resizable?: boolean;
  start(): Promise<void>;
  /** Run one job. The promise always resolves with an Outcome (failures included); it never rejects. */
  run(job: Job): Promise<Outcome>;
  grow(n: number): void;
  shrink(n: number): void;
  /** Abort every running job (cold shutdown). Their `run` promises still resolve. */
  terminateAll(reason: Error): void;
  /**
   * Stop one running job now (remote control `revoke --terminate`, `terminate`) with `signal`; null
   * when this pool is not running it (it finished, or never came here). Otherwise its slot is free
   * when this returns and the returned outcome, `{ kind: 'revoked', terminated: true, signum }`, is its
   * outcome: the caller settles it. The job's `run` promise may still resolve later, or never (a task
   * on the event loop that ignores its aborted signal): the caller must ignore it. How each pool stops
   * it: async and solo abort the task's signal (they cannot stop code that never yields); prefork sends
   * the signal to the child process, then SIGKILL after `killGrace`, and replaces the child; threads
   * terminate the thread (a thread cannot be signalled) and replace it. A pool without this method
   * cannot terminate: its revoked tasks run to the end.
   */
  terminate?(job: Job, signal: { num: number; name: string }): Outcome | null;
  /** Stop the pool; running jobs should have finished or been terminated. */
  stop(): Promise<void>;
  stats(): PoolStats;
}

export interface PoolContext {
  /** The app whose tasks (and execution middleware) the pool runs. */
  app: ExecApp;
  concurrency: number;
  hostname: string;
  logger: Logger;
  /** Module that exports the app, for pools that load it in another process or thread. */
  appModule?: string;
  /** Pool-specific options (e.g. maxTasksPerChild). */
  options: Record<string, unknown>;
}

export type PoolFactory = (ctx: PoolContext) => Pool | Promise<Pool>;
