/**
 * The `prefork` pool (alias `processes`): Celery's default pool, with Node processes.
 *
 * | feature               | support |
 * |-----------------------|---------|
 * | children              | `-c N` processes (`child_process.fork`), each loading the app module |
 * | tasks per child       | `childConcurrency` at once (async tasks share the child's loop); 1 by default |
 * | soft time limit       | the child aborts the task's `signal` with SoftTimeLimitExceeded |
 * | hard time limit       | SIGTERM to the child, SIGKILL after `killGrace` ms; TimeLimitExceeded, even in `while (true) {}` |
 * | terminate (revoke)    | the given signal to the child (SIGKILL after `killGrace`), REVOKED, the child is replaced |
| child dies mid-task   | WorkerLostError (reason 'worker-lost'), the child is replaced |
 * | recycling             | `maxTasksPerChild`; `maxMemoryPerChild` KiB of peak RSS, checked after each task |
 * | resizing              | grow(n)/shrink(n) add or remove whole children (autoscale) |
 * | IPC                   | typed messages (ipc.ts), structured clone (`serialization: 'advanced'`) |
 *
 * Options (PoolContext.options): see `childPoolDefaults` in spawner.ts. The app module must only define
 * the app; a module that also starts a worker must skip that when `process.env.CELERIAC_POOL_CHILD` is set.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ChildPool } from './children.js';
import type { ChildInit, FromChild, ToChild } from './ipc.js';
import type { Pool, PoolContext } from './pool.js';
import { childEntry, childEnv, childNeedsTsx, tsxLoaderUrl } from './spawn.js';
import type { ChildPoolOptions, Spawner } from './spawner.js';

/** Flags of the worker's node that children inherit: not the inspector (its port is taken). */
export function inheritedExecArgv(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--inspect'));
}

function execArgv(): string[] {
  const inherited = inheritedExecArgv();
  if (!childNeedsTsx || inherited.some((a) => a.includes('tsx'))) return inherited;
  return [...inherited, '--import', tsxLoaderUrl()];
}

/**
 * Fork `modulePath` with `args` and the worker's node flags (tsx when running from source), and give back
 * a handle whose kill escalates to SIGKILL after `killGrace` ms. Shared by the prefork pool (child.ts) and
 * the --processes cluster (worker/cluster/), whose children are whole workers.
 */
export function forkProcess<In, Out>(
  modulePath: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  events: { message(m: Out): void; exit(how: string): void },
  options: { killGrace: number; serialization?: 'json' | 'advanced'; execArgv?: string[] },
): { readonly pid: number | undefined; send(m: In): void; kill(signal?: NodeJS.Signals | number): void } {
  const child: ChildProcess = fork(modulePath, args, {
    execArgv: options.execArgv ?? execArgv(),
    env,
    serialization: options.serialization ?? 'advanced',
  });
  let exited = false;
  let killTimer: NodeJS.Timeout | null = null;
  const exit = (how: string) => {
    if (exited) return;
    exited = true;
    if (killTimer) clearTimeout(killTimer);
    events.exit(how);
  };
  child.on('message', (m) => events.message(m as Out));
  // 'close', not 'exit': it comes after the IPC channel is drained, so an outcome the child sent just
  // before dying is not reported as lost.
  child.on('close', (code, signal) => exit(signal ? `signal ${signal}` : `exitcode ${code}`));
  // 'error' without 'exit' means it never started (EAGAIN, ENOMEM); send errors are followed by 'exit'.
  child.on('error', (err) => {
    if (child.pid === undefined) exit(`spawn failed: ${err.message}`);
  });
  return {
    pid: child.pid,
    send(m) {
      if (child.connected) child.send(m as object, () => {}); // a closed channel: 'exit' will report the child
    },
    kill(signal = 'SIGTERM') {
      if (exited || killTimer) return;
      child.kill(signal);
      // SIGTERM ends a Node process even in a synchronous loop; SIGKILL covers code that traps it (or
      // a signal that does not end a process, e.g. a terminate with SIGINT, which children ignore).
      killTimer = setTimeout(() => child.kill('SIGKILL'), options.killGrace);
      killTimer.unref();
    },
  };
}

export const processSpawner: Spawner = {
  implementation: 'prefork',
  noun: 'process',
  spawn(init: ChildInit, events, options: ChildPoolOptions) {
    return forkProcess<ToChild, FromChild>(
      fileURLToPath(childEntry),
      [JSON.stringify(init)],
      childEnv(),
      events,
      options,
    );
  },
};

export function createPreforkPool(ctx: PoolContext): Pool {
  return new ChildPool(ctx, processSpawner);
}
