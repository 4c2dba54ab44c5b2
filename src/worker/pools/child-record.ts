/**
 * One child as the pool (children.ts) keeps track of it: its state, the jobs it runs, its boot promise;
 * a job waiting for a child and a job running on one; and the choice of child for the next job (the
 * least busy ready child with a free slot). Apart from the pool so the records and their small rules
 * read on their own; the pool's scheduling, replacement and termination stay in children.ts.
 */
import type { Outcome } from '../../task/outcome.js';
import type { LongTimeout } from '../../util/long-timeout.js';
import type { Job } from './pool.js';
import type { ChildHandle } from './spawner.js';

export interface Child {
  readonly handle: ChildHandle;
  /** pid or thread id, once ready. */
  id: number | null;
  /** leaving: takes no new job; it exits when its jobs are done (or was killed). */
  state: 'starting' | 'ready' | 'leaving';
  readonly jobs: Map<number, Running>;
  tasks: number;
  bootError: string | null;
  readonly booted: Deferred;
}

export interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface Waiting {
  job: Job;
  resolve(o: Outcome): void;
}

export interface Running extends Waiting {
  seq: number;
  child: Child;
  started: number;
  hard: LongTimeout | null;
}

/** The ready child with the fewest jobs, if it has a free slot. */
export function pickChild(children: Iterable<Child>, childConcurrency: number): Child | null {
  let best: Child | null = null;
  for (const c of children) {
    if (c.state !== 'ready' || c.jobs.size >= childConcurrency) continue;
    if (!best || c.jobs.size < best.jobs.size) best = c;
    if (c.jobs.size === 0) break;
  }
  return best;
}

/** Seconds a job has been running, as its outcome's runtime. */
export function elapsed(r: Running): number {
  return (performance.now() - r.started) / 1000;
}
