/**
 * `celeriac worker`: start a worker for the app given with -A. SIGTERM or SIGINT starts a warm shutdown
 * (stop consuming, finish running tasks, give prefetched ones back); a second signal goes cold.
 */
import type { Command } from 'commander';
import { parseLogLevel } from '../worker/log.js';
import type { WorkerOptions } from '../worker/worker.js';
import { loadApp } from './load.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number`);
  return n;
};
const seconds = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of seconds`);
  return n;
};

export function addWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('start a worker')
    .option('-A, --app <module>', 'module exporting the app')
    .option('-P, --pool <name>', 'async (aliases eventlet, gevent), solo, prefork, threads', 'async')
    .option('-c, --concurrency <n>', 'tasks at once (async) or processes/threads', int('--concurrency'))
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
      const worker = app.worker(options);
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
        worker
          .stop({ cold: signals > 1 })
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
      await worker.start();
      // The worker logs "ready" at info; below that level still say once that it is up.
      if (!worker.logger.enabled('info'))
        process.stderr.write(
          `celeriac ${worker.hostname} ready: pool=${worker.pool?.implementation} concurrency=${worker.pool?.concurrency} queues=${worker.queues.join(',')}\n`,
        );
    });
}
