/**
 * `celeriac worker --processes N`, as the CLI (src/cli/worker.ts) runs it: the parent's whole life
 * (children, the node, signals, exit) and the few changes that make a worker a cluster child.
 *
 * A child is the same command line run again with `--processes 1` and CLUSTER_CHILD_ENV set: the same app
 * module, the same options (tracing, metrics, -E, -Q, limits), so nothing has to be serialized or kept in
 * step. Only the parent purges and runs beat (-B). Signals in the parent: the first SIGTERM or SIGINT is a
 * warm shutdown (forwarded: children stop consuming, give prefetched messages back and finish their tasks
 * within --shutdown-timeout), a second one cold (forwarded: children abort their tasks and requeue those
 * not acked); SIGQUIT is cold at once, as in Celery. A child still there after its grace is SIGKILLed.
 */
import { availableParallelism } from 'node:os';
import type { App } from '../../app/app.js';
import type { Beat } from '../../beat/beat.js';
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { WorkerOptions } from '../config.js';
import { inheritedExecArgv } from '../pools/prefork.js';
import { childPoolDefaults } from '../pools/spawner.js';
import type { Worker } from '../worker.js';
import { ClusterChild } from './child.js';
import { CLUSTER_CHILD_ENV } from './ipc.js';
import { ClusterNode } from './node.js';
import { Cluster } from './supervisor.js';

/** `--processes`: a whole number; 0 or `auto` is one per core (os.availableParallelism()). */
export function parseProcesses(v: string): number {
  if (v === 'auto' || v === '0') return availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError(`--processes must be a whole number >= 0 or "auto", got "${v}"`);
  return n;
}

/** This process's index when it is a cluster child, else null. */
export function clusterChildIndex(): number | null {
  const v = process.env[CLUSTER_CHILD_ENV];
  return v === undefined || v === '' ? null : Number(v);
}

/**
 * Make `options` a cluster child's: remote control through the parent, no heartbeats (the node's come
 * from the parent), no mingle (one node, asked once: the parent's replay brings the node's state), and
 * the recycling limits taken out of the pool options, because here they recycle the whole child.
 * The state db is per child (file.index); the CLI gives each child its own metrics port (port + index).
 */
export function asClusterChild(
  app: App,
  options: WorkerOptions,
  index: number,
  logger: Logger,
): ClusterChild {
  if (options.pool === 'prefork' || options.pool === 'processes')
    throw new ConfigError(
      '--processes runs whole workers; with -P prefork, -c is already the number of processes',
    );
  const pool = { ...(options.poolOptions ?? {}) };
  const limits = {
    maxTasksPerChild: (pool.maxTasksPerChild as number | undefined) ?? childPoolDefaults.maxTasksPerChild,
    maxMemoryPerChild: (pool.maxMemoryPerChild as number | undefined) ?? childPoolDefaults.maxMemoryPerChild,
  };
  delete pool.maxTasksPerChild;
  delete pool.maxMemoryPerChild;
  options.poolOptions = pool;
  options.controlVia = 'parent';
  options.withoutHeartbeat = true;
  options.mingle = false;
  if (options.stateDb) options.stateDb = `${options.stateDb}.${index}`;
  const child = new ClusterChild(limits, logger);
  app.use(child.middleware());
  return child;
}

export interface ClusterParentOptions {
  readonly app: App;
  /** Made, never started: the node's resolved configuration, hostname and logger. */
  readonly worker: Worker;
  readonly processes: number;
  readonly beat: Beat | null;
}

/** Run the parent until it stops; it exits the process. */
export async function runClusterParent(o: ClusterParentOptions): Promise<void> {
  const { app, worker, beat } = o;
  const { logger, config } = worker;
  if (config.pool === 'prefork' || config.pool === 'processes')
    throw new ConfigError(
      '--processes runs whole workers; with -P prefork, -c is already the number of processes',
    );
  const startedAt = Date.now();
  const broker = await app.broker({ logger });
  const backend = await app.backend().catch((err: Error) => {
    logger.log('warn', `results will not be stored: ${err.message}`);
    return null;
  });
  let node: ClusterNode | null = null;
  const cluster = new Cluster({
    processes: o.processes,
    modulePath: process.argv[1] as string,
    // The last --processes wins (commander): the child is the same command, as one worker.
    args: [...process.argv.slice(2), '--processes', '1'],
    env: process.env,
    execArgv: inheritedExecArgv(),
    logger,
    shutdownTimeout: config.conf.workerShutdownTimeout,
    killGrace: childPoolDefaults.killGrace,
    onHardKill: (task, seconds) => node?.recordHardKill(task, seconds) ?? Promise.resolve(),
    onLost: (task, how) => node?.recordLost(task, how) ?? Promise.resolve(),
    onReady: (member) => node?.replay(member),
  });

  let stopping: Promise<void> | null = null;
  const stop = (cold: boolean): Promise<void> => {
    if (stopping) {
      if (cold) void cluster.stop(true); // forwards the cold stop to children still draining
      return stopping;
    }
    logger.log('info', `${worker.hostname}: ${cold ? 'cold' : 'warm'} shutdown of ${o.processes} processes`);
    stopping = (async () => {
      await beat?.stop();
      await node?.stopListening();
      await cluster.stop(cold);
      await node?.close();
      await app.close();
    })();
    return stopping;
  };
  const exit = (p: Promise<void>) =>
    p.then(
      () => process.exit(0),
      (err: Error) => {
        logger.log('error', `shutdown failed: ${err.stack ?? err.message}`);
        process.exit(1);
      },
    );
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    const cold = sig === 'SIGQUIT' || signals > 1;
    logger.log('warn', `${sig} received: ${cold ? 'cold shutdown' : 'warm shutdown (send again for cold)'}`);
    void exit(stop(cold));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGQUIT', onSignal);

  try {
    await cluster.start();
  } catch (err) {
    if (signals > 0) return;
    logger.log('error', `cannot start the worker: ${(err as Error).message}`);
    await cluster.stop(true);
    await Promise.race([app.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
    process.exit(1);
  }
  node = new ClusterNode({
    app,
    cluster,
    config,
    broker,
    backend,
    logger,
    startedAt,
    shutdown: () => void exit(stop(false)),
  });
  await node.start();
  await beat?.start();
  const pids = cluster.members.map((m) => m.pid).join(',');
  const perChild = config.concurrency ?? '(pool default)';
  logger.log(
    'warn',
    `celeriac ${worker.hostname} ready: ${o.processes} processes (${pids}), pool=${config.pool} concurrency=${perChild} each, queues=${worker.queues.join(',')}${beat ? ' beat=on' : ''}`,
  );
}
