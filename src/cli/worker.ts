/**
 * `celeriac worker`: start a worker for the app given with -A. SIGTERM or SIGINT starts a warm shutdown
 * (stop consuming, finish running tasks, give prefetched ones back); a second signal goes cold.
 * `-B` embeds beat (beat/beat.ts) as Celery does: it starts after the worker is ready and stops (releasing
 * its lease) before the worker does, so another beat can take over while this worker drains.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { Beat } from '../beat/beat.js';
import { loadApp } from '../loader/app.js';
import { parseLogLevel } from '../util/log.js';
import { parseAutoscale } from '../worker/autoscale.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number >= 1`);
  return n;
};
const autoscale = (name: string) => (v: string) => {
  try {
    return parseAutoscale(v);
  } catch {
    throw new InvalidArgumentError(`${name} must be max,min with 1 <= min <= max, e.g. ${name} 8,2`);
  }
};
const seconds = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`${name} must be a positive number of seconds`);
  return n;
};

export function addWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('start a worker')
    .option('-A, --app <module>', 'module exporting the app')
    .option(
      '-P, --pool <name>',
      'async (aliases eventlet, gevent), solo, prefork (alias processes), threads',
      'async',
    )
    .option('-c, --concurrency <n>', 'tasks at once (async) or processes/threads', int('--concurrency'))
    .option(
      '--autoscale <max,min>',
      'grow and shrink the pool with the load (processes/threads, or slots for async)',
      autoscale('--autoscale'),
    )
    .option(
      '--cpu-pool <name[:n]>',
      'mixed worker: also run a prefork or threads pool of n for CPU-bound tasks, e.g. prefork:2',
    )
    .option('--cpu-queues <names>', 'comma-separated queues whose tasks run in the CPU pool')
    .option(
      '--cpu-autoscale <max,min>',
      'grow and shrink the CPU pool with its load',
      autoscale('--cpu-autoscale'),
    )
    .option(
      '--child-concurrency <n>',
      'prefork/threads: tasks each child runs at once (async tasks)',
      positive('--child-concurrency'),
    )
    .option(
      '--max-tasks-per-child <n>',
      'prefork/threads: replace a child after this many tasks',
      positive('--max-tasks-per-child'),
    )
    .option(
      '--max-memory-per-child <KiB>',
      'prefork/threads: replace a child whose memory exceeds this after a task',
      positive('--max-memory-per-child'),
    )
    .option(
      '--blocking-threshold <ms>',
      'warn when the event loop is blocked this long, naming the tasks on it (0: off; default 100)',
      int('--blocking-threshold'),
    )
    .option('-Q, --queues <names>', 'comma-separated queues to consume')
    .option('-n, --hostname <name>', 'node name (%h = host name)')
    .option('-l, --loglevel <level>', 'debug, info, warning, error', 'warning')
    .option(
      '--prefetch-multiplier <n>',
      'messages prefetched per slot (0 = unlimited)',
      int('--prefetch-multiplier'),
    )
    .option('--time-limit <seconds>', 'hard time limit for every task', seconds('--time-limit'))
    .option('--soft-time-limit <seconds>', 'soft time limit for every task', seconds('--soft-time-limit'))
    .option(
      '--shutdown-timeout <seconds>',
      'how long a warm shutdown waits for running tasks',
      seconds('--shutdown-timeout'),
    )
    .option('--purge', 'purge the queues before starting')
    .option('-B, --beat', 'also run the periodic task scheduler in this worker (as Celery’s -B)')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const g = cmd.optsWithGlobals() as { app?: string; broker?: string; resultBackend?: string };
      if (g.broker) process.env.CELERIAC_BROKER_URL = g.broker;
      if (g.resultBackend) process.env.CELERIAC_RESULT_BACKEND = g.resultBackend;
      if (!g.app) {
        cmd.error('error: worker needs the app: -A ./tasks.ts (a module exporting `app` or a default app)', {
          exitCode: 2,
        });
        return;
      }
      const { app, module } = await loadApp(g.app);
      const options: WorkerOptions = {
        pool: o.pool as string,
        logLevel: parseLogLevel(o.loglevel as string),
        appModule: module,
      };
      if (o.concurrency !== undefined) options.concurrency = o.concurrency as number;
      if (o.queues) options.queues = (o.queues as string).split(',').filter(Boolean);
      if (o.hostname) options.hostname = o.hostname as string;
      if (o.prefetchMultiplier !== undefined) options.prefetchMultiplier = o.prefetchMultiplier as number;
      if (o.timeLimit !== undefined) options.timeLimit = o.timeLimit as number;
      if (o.softTimeLimit !== undefined) options.softTimeLimit = o.softTimeLimit as number;
      if (o.shutdownTimeout !== undefined) options.shutdownTimeout = o.shutdownTimeout as number;
      if (o.autoscale) options.autoscale = o.autoscale as WorkerOptions['autoscale'];
      if (o.cpuPool) options.cpuPool = o.cpuPool as string;
      if (o.cpuQueues) options.cpuQueues = (o.cpuQueues as string).split(',').filter(Boolean);
      if (o.cpuAutoscale) options.cpuAutoscale = o.cpuAutoscale as WorkerOptions['cpuAutoscale'];
      if (o.blockingThreshold !== undefined) options.blockingThreshold = o.blockingThreshold as number;
      const poolOptions: Record<string, unknown> = {};
      if (o.childConcurrency !== undefined) poolOptions.childConcurrency = o.childConcurrency;
      if (o.maxTasksPerChild !== undefined) poolOptions.maxTasksPerChild = o.maxTasksPerChild;
      if (o.maxMemoryPerChild !== undefined) poolOptions.maxMemoryPerChild = o.maxMemoryPerChild;
      options.poolOptions = poolOptions;
      const worker = new Worker(app, options);
      // Built before the worker starts, so a bad schedule fails at start-up.
      const beat = o.beat ? new Beat(app, { logger: worker.logger, name: `beat@${worker.hostname}` }) : null;
      if (o.purge) {
        const broker = await app.broker();
        for (const q of worker.queues) await broker.purge(q);
      }
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        worker.logger.log(
          'warn',
          `${sig} received: ${signals === 1 ? 'warm shutdown (send again for cold)' : 'cold shutdown'}`,
        );
        (signals === 1 && beat ? beat.stop() : Promise.resolve())
          .then(() => worker.stop({ cold: signals > 1 }))
          .then(() => app.close())
          .then(
            () => process.exit(0),
            (err: Error) => {
              worker.logger.log('error', `shutdown failed: ${err.stack ?? err.message}`);
              process.exit(1);
            },
          );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        await worker.start();
      } catch (err) {
        // Stopped by a signal while starting: onSignal exits once the stop is done.
        if (signals > 0) return;
        // Fatal at start-up (broker unreachable after the retries, a queue declared with other arguments,
        // an unusable database file): say why and exit non-zero, never linger consuming nothing.
        worker.logger.log('error', `cannot start the worker: ${(err as Error).message}`);
        await Promise.race([app.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
        process.exit(1);
      }
      await beat?.start();
      // The worker logs "ready" at info; below that level still say once that it is up.
      if (!worker.logger.enabled('info')) {
        const cpu = worker.cpuPool
          ? ` cpu-pool=${worker.cpuPool.implementation}:${worker.cpuPool.concurrency}`
          : '';
        process.stderr.write(
          `celeriac ${worker.hostname} ready: pool=${worker.pool?.implementation} concurrency=${worker.pool?.concurrency}${cpu} queues=${worker.queues.join(',')}${beat ? ' beat=on' : ''}\n`,
        );
      }
    });
}
