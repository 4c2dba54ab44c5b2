/**
 * The `threads` pool: tasks in worker_threads, each thread loading the app module. Cheaper to start and
 * to talk to than processes, and one crash-proof boundary fewer: a thread shares the process's memory
 * limit and native state, so a segfaulting addon takes the whole worker down.
 *
 * | feature               | support |
 * |-----------------------|---------|
 * | children              | `-c N` threads, each running up to `childConcurrency` tasks at once |
 * | soft time limit       | the thread aborts the task's `signal` with SoftTimeLimitExceeded |
 * | hard time limit       | `worker.terminate()`: stops even `while (true) {}`; TimeLimitExceeded |
 * | terminate (revoke)    | `worker.terminate()` whatever the signal (a thread cannot be signalled); REVOKED, replaced |
| thread dies mid-task  | (`process.exit`, uncaught error) WorkerLostError, the thread is replaced |
 * | recycling             | `maxTasksPerChild`; `maxMemoryPerChild` KiB of the thread's V8 heap + external memory |
 * | resizing              | grow(n)/shrink(n) add or remove whole threads (autoscale) |
 *
 * Options (PoolContext.options): see `childPoolDefaults` in spawner.ts (`killGrace` does not apply).
 */
import { Worker } from 'node:worker_threads';
import { ChildPool } from './children.js';
import type { ChildInit, FromChild } from './ipc.js';
import type { Pool, PoolContext } from './pool.js';
import { childEntry, childEnv, childNeedsTsx, tsxApiUrl } from './spawn.js';
import type { Spawner } from './spawner.js';

function startThread(init: ChildInit): Worker {
  const options = { workerData: init, env: childEnv() };
  if (!childNeedsTsx) return new Worker(childEntry, options);
  const bootstrap = `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(childEntry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

export const threadSpawner: Spawner = {
  implementation: 'threads',
  noun: 'thread',
  spawn(init: ChildInit, events) {
    const thread = startThread(init);
    let lastError: Error | null = null;
    thread.on('message', (m: FromChild) => events.message(m));
    // An uncaught error in the thread: 'error', then 'exit'.
    thread.on('error', (err) => {
      lastError = err;
    });
    thread.on('exit', (code) =>
      events.exit(lastError ? `exitcode ${code}: ${lastError.message}` : `exitcode ${code}`),
    );
    return {
      send: (m) => thread.postMessage(m),
      kill: () => void thread.terminate(),
    };
  },
};

export function createThreadsPool(ctx: PoolContext): Pool {
  return new ChildPool(ctx, threadSpawner);
}
