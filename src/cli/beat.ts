/**
 * `celeriac beat`: run the scheduler for the app given with -A until SIGTERM or SIGINT (a warm stop
 * releases the lease, so another beat takes over at once); `--list [--json]` prints the entries with
 * their next five run times instead. Celery's option names where Celery has them (-l, --max-interval).
 * `celeriac worker -B` embeds the same Beat in a worker (worker.ts).
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { App } from '../app/app.js';
import { Beat } from '../beat/beat.js';
import { formatListing, listEntries } from '../beat/listing.js';
import { createBeatStore } from '../beat/stores.js';
import { loadApp } from '../loader/app.js';
import { parseLogLevel } from '../util/log.js';

const seconds = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`${name} must be a positive number of seconds`);
  return n;
};

async function list(app: App, json: boolean): Promise<void> {
  const beat = new Beat(app);
  const store = await createBeatStore(app);
  await store.connect();
  try {
    const tz = app.conf.timezone;
    const listed = listEntries(beat.entries, await store.lastRuns(), tz, Date.now());
    process.stdout.write(
      json ? `${JSON.stringify({ timezone: tz, entries: listed }, null, 2)}\n` : formatListing(listed, tz),
    );
  } finally {
    await store.close();
  }
}

/** Stop `stop` on the first SIGTERM/SIGINT, then exit (a second signal exits at once). */
export function stopOnSignal(log: (message: string) => void, stop: () => Promise<void>): void {
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) process.exit(1);
    log(`${sig} received: warm shutdown`);
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        log(`shutdown failed: ${err.stack ?? err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export function addBeatCommand(program: Command): void {
  program
    .command('beat')
    .description('run the periodic task scheduler (any number of beats: one leads, each slot is sent once)')
    .option('-A, --app <module>', 'module exporting the app')
    .option('-l, --loglevel <level>', 'debug, info, warning, error', 'warning')
    .option('--max-interval <seconds>', 'longest sleep between passes', seconds('--max-interval'))
    .option('--list', 'print each entry with its next five run times, then exit')
    .option('--json', 'with --list: print JSON (for Python and automation)')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const g = cmd.optsWithGlobals() as { app?: string; broker?: string; resultBackend?: string };
      if (g.broker) process.env.CELERIAC_BROKER_URL = g.broker;
      if (g.resultBackend) process.env.CELERIAC_RESULT_BACKEND = g.resultBackend;
      if (!g.app) {
        cmd.error('error: beat needs the app: -A ./tasks.ts (a module exporting `app` or a default app)', {
          exitCode: 2,
        });
        return;
      }
      const { app } = await loadApp(g.app);
      if (o.list) {
        try {
          await list(app, o.json === true);
        } finally {
          await app.close();
        }
        return;
      }
      const beat = new Beat(app, {
        logLevel: parseLogLevel(o.loglevel as string),
        ...(o.maxInterval !== undefined ? { maxLoopInterval: o.maxInterval as number } : {}),
      });
      stopOnSignal(
        (m) => beat.logger.log('warn', m),
        () => beat.stop().then(() => app.close()),
      );
      await beat.start();
      if (!beat.logger.enabled('info'))
        process.stderr.write(`celeriac ${beat.name} ready: ${beat.entries.length} entries\n`);
    });
}
