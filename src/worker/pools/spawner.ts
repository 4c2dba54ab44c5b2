/**
 * What the child pool (children.ts) asks of its implementations, and the options it takes: the Spawner
 * contract that prefork.ts (processes) and threads.ts (worker_threads) implement, and the validated
 * ChildPoolOptions both pass through. Apart from the pool's scheduling, so an implementation depends on
 * this small contract and the options can be read and validated without the pool's machinery.
 */
import { ConfigError } from '../../errors.js';
import { hint } from '../../util/suggest.js';
import type { ChildInit, FromChild, ToChild } from './ipc.js';

/** Options of the prefork and threads pools (PoolContext.options, or WorkerOptions.poolOptions). */
export const childPoolDefaults = {
  /** Tasks a child runs before it is replaced; null: no limit. Celery's --max-tasks-per-child. @defaultValue null */
  maxTasksPerChild: null as number | null,
  /**
   * KiB. A child found over it after a task is replaced (the task itself completes, as in Celery); null:
   * no limit. Processes are measured by peak RSS, threads by their V8 heap plus external memory.
   * @defaultValue null
   */
  maxMemoryPerChild: null as number | null,
  /** Tasks each child runs at once (they share the child's event loop). @defaultValue 1 */
  childConcurrency: 1,
  /** Milliseconds between SIGTERM and SIGKILL when a process must die. @defaultValue 2000 */
  killGrace: 2000,
};
export type ChildPoolOptions = typeof childPoolDefaults;

const positive = (v: unknown) => Number.isInteger(v) && (v as number) > 0;

/** Validate pool options eagerly, naming the option and the fix. */
export function childPoolOptions(input: Record<string, unknown>): ChildPoolOptions {
  const known = Object.keys(childPoolDefaults);
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) throw new ConfigError(`Unknown pool option "${key}"${hint(key, known)}`);
  }
  const o = { ...childPoolDefaults, ...input } as ChildPoolOptions;
  for (const key of ['maxTasksPerChild', 'maxMemoryPerChild'] as const) {
    if (o[key] !== null && !positive(o[key]))
      throw new ConfigError(`${key} must be a positive integer or null, got ${String(o[key])}`);
  }
  if (!positive(o.childConcurrency))
    throw new ConfigError(`childConcurrency must be a positive integer, got ${String(o.childConcurrency)}`);
  if (!Number.isFinite(o.killGrace) || o.killGrace < 0)
    throw new ConfigError(`killGrace must be a number of milliseconds >= 0, got ${String(o.killGrace)}`);
  return o;
}

export interface ChildEvents {
  message(m: FromChild): void;
  /** The child is gone; `how` reads like Celery's "exitcode 1" or "signal SIGKILL". Called once. */
  exit(how: string): void;
}

export interface ChildHandle {
  /** Fire and forget: a child that is gone reports it through `exit`. */
  send(m: ToChild): void;
  /**
   * Stop it now, whatever it is running. Processes get `signal` (SIGTERM by default), then SIGKILL
   * after `killGrace` if still there; threads are terminated (they cannot be signalled).
   */
  kill(signal?: NodeJS.Signals | number): void;
}

export interface Spawner {
  readonly implementation: 'prefork' | 'threads';
  /** 'process' or 'thread', for log lines. */
  readonly noun: string;
  spawn(init: ChildInit, events: ChildEvents, options: ChildPoolOptions): ChildHandle;
}
