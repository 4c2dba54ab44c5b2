/**
 * `celeriac worker`: start a worker for the app given with -A. SIGTERM or SIGINT starts a warm shutdown
 * (stop consuming, finish running tasks, give prefetched ones back); a second signal goes cold.
 * A remote `shutdown` (celeriac/celery control shutdown) stops the worker warm the same way, then exits 0.
 * `-B` embeds beat (beat/beat.ts) as Celery does: it starts after the worker is ready and stops (releasing
 * its lease) before the worker does, so another beat can take over while this worker drains.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { Beat } from '../beat/beat.js';
import { DASHBOARD_DEFAULTS } from '../dashboard/options.js';
import { serveDashboard } from '../dashboard/server.js';
import { loadApp } from '../loader/app.js';
import { metrics } from '../middleware/metrics.js';
import { tracing } from '../middleware/tracing.js';
import { currentTaskFields } from '../task/context.js';
import { createLogger, parseLogFormat, parseLogLevel } from '../util/log.js';
import { openLogFile, reopenOnHangup } from '../util/log-file.js';
import { VERSION } from '../version.js';
import { parseAutoscale } from '../worker/autoscale.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';
import { workerBanner } from './banner.js';

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
    .option(
      '-c, --concurrency <n>',
      'async: tasks at once (default 100); solo: 1; prefork, threads: children (default: the number of CPUs)',
      int('--concurrency'),
    )
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
      '--statedb <file>',
      'keep revoked task ids in this file across restarts (%n, %h: the node name parts); a Celeriac JSON file, not Celery’s shelve',
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
    .option('-l, --loglevel <level>', 'debug, info, warning (or warn), error', 'warning')
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
    .option(
      '-E, --task-events',
      'send task events (task-received, -started, -succeeded …) for monitors such as Flower',
    )
    .option('--without-heartbeat', 'send no worker-online/heartbeat/offline events')
    .option(
      '--heartbeat-interval <seconds>',
      'seconds between heartbeat events (default 2)',
      seconds('--heartbeat-interval'),
    )
    .option('--log-format <format>', 'plain (Celery’s lines) or json (one object per line)', 'plain')
    .option('--log-file <path>', 'append the log to this file (reopened on SIGHUP, for logrotate)')
    .option('--tracing', 'OpenTelemetry spans for every publish and run (needs @opentelemetry/api)')
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics on http://<metrics-host>:<port>/metrics (needs prom-client)',
      int('--metrics-port'),
    )
    .option('--metrics-host <host>', 'address the metrics server binds', '127.0.0.1')
    .option('--dashboard', 'also serve the web dashboard on 127.0.0.1 (turns on task events, -E)')
    .option(
      '--dashboard-port <port>',
      'port of --dashboard',
      int('--dashboard-port'),
      DASHBOARD_DEFAULTS.port,
    )
    .option('--purge', 'purge the queues before starting')
    .option('--without-mingle', 'do not sync revoked ids and the clock with running workers at start-up')
    .option('--without-gossip', 'accepted for Celery compatibility (Celeriac workers do not gossip)')
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
      const logLevel = parseLogLevel(o.loglevel as string);
      const logFormat = parseLogFormat(o.logFormat as string);
      const logFile = o.logFile ? openLogFile(o.logFile as string) : null;
      // Pool children read these when they make their logger (pools/child.ts): same format, same file.
      process.env.CELERIAC_LOG_FORMAT = logFormat;
      if (logFile) process.env.CELERIAC_LOG_FILE = o.logFile as string;
      let hostname: string | null = null;
      const logger = createLogger(logLevel, logFile ? (l) => logFile.write(l) : undefined, 'MainProcess', {
        format: logFormat,
        worker: () => hostname,
        context: currentTaskFields,
      });
      if (logFile)
        reopenOnHangup(logFile, (err) =>
          logger.log(
            'error',
            `could not reopen --log-file ${o.logFile}: ${err.message}; still writing to the old file`,
          ),
        );
      // Observability middleware asked for on the command line, unless the app added its own.
      const using = (name: string) => app.middleware.some((m) => m.name === name);
      if (o.tracing && !using('tracing')) app.use(await tracing());
      if (o.metricsPort !== undefined && !using('metrics'))
        app.use(metrics({ port: o.metricsPort as number, host: o.metricsHost as string }));
      const options: WorkerOptions = {
        pool: o.pool as string,
        logLevel,
        logger,
        appModule: module,
      };
      if (o.concurrency !== undefined) options.concurrency = o.concurrency as number;
      if (o.queues) options.queues = (o.queues as string).split(',').filter(Boolean);
      if (o.hostname) options.hostname = o.hostname as string;
      if (o.statedb) options.stateDb = o.statedb as string;
      if (o.prefetchMultiplier !== undefined) options.prefetchMultiplier = o.prefetchMultiplier as number;
      if (o.timeLimit !== undefined) options.timeLimit = o.timeLimit as number;
      if (o.softTimeLimit !== undefined) options.softTimeLimit = o.softTimeLimit as number;
      if (o.shutdownTimeout !== undefined) options.shutdownTimeout = o.shutdownTimeout as number;
      if (o.autoscale) options.autoscale = o.autoscale as WorkerOptions['autoscale'];
      if (o.cpuPool) options.cpuPool = o.cpuPool as string;
      if (o.cpuQueues) options.cpuQueues = (o.cpuQueues as string).split(',').filter(Boolean);
      if (o.cpuAutoscale) options.cpuAutoscale = o.cpuAutoscale as WorkerOptions['cpuAutoscale'];
      // The dashboard shows tasks from their events.
      if (o.taskEvents || o.dashboard) options.taskEvents = true;
      if (o.withoutHeartbeat) options.withoutHeartbeat = true;
      if (o.heartbeatInterval !== undefined) options.heartbeatInterval = o.heartbeatInterval as number;
      if (o.blockingThreshold !== undefined) options.blockingThreshold = o.blockingThreshold as number;
      if (o.withoutMingle) options.mingle = false;
      const poolOptions: Record<string, unknown> = {};
      if (o.childConcurrency !== undefined) poolOptions.childConcurrency = o.childConcurrency;
      if (o.maxTasksPerChild !== undefined) poolOptions.maxTasksPerChild = o.maxTasksPerChild;
      if (o.maxMemoryPerChild !== undefined) poolOptions.maxMemoryPerChild = o.maxMemoryPerChild;
      options.poolOptions = poolOptions;
      const worker = new Worker(app, options);
      hostname = worker.hostname;
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
      // Stopped without a signal (remote control's `shutdown`): stop beat, close the app, exit 0.
      void worker.stopped.then(() => {
        if (signals > 0) return; // the signal handler exits
        (beat ? beat.stop() : Promise.resolve())
          .then(() => app.close())
          .then(
            () => process.exit(0),
            (err: Error) => {
              worker.logger.log('error', `shutdown failed: ${err.stack ?? err.message}`);
              process.exit(1);
            },
          );
      });
      await beat?.start();
      if (o.dashboard) {
        // Loopback only: a dashboard on the network is `celeriac dashboard --address … --basic-auth …`.
        const dash = await serveDashboard(app, { port: o.dashboardPort as number }).catch((err: Error) => {
          worker.logger.log('error', `cannot serve --dashboard: ${err.message}`);
          return null;
        });
        if (dash) process.stderr.write(`celeriac dashboard: ${dash.url}\n`);
      }
      // The same banner at every log level: config, [tasks], then the ready line.
      process.stderr.write(workerBanner(app, worker, { version: VERSION, appModule: g.app, beat: !!beat }));
    });
}
