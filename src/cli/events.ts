/**
 * `celeriac events`: watch a cluster through its events (Celery's `celery events`). On a terminal, a
 * screen of workers (status, active, processed, load, last heartbeat) and the latest tasks, redrawn in
 * place at most every `--freq` seconds (on the alternate screen, restored on exit); piped, one line
 * per event, so it can be grepped or logged; `--dump`, every event as a JSON line, exactly the fields
 * the worker sent. The receiver wakes workers up (the `heartbeat` control command) so they show at once.
 * Data comes from app.events (a receiver feeding a ClusterState), the same API applications use.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { App } from '../app/app.js';
import type { CeleryEvent } from '../events/event.js';
import { renderDump, renderLine, renderScreen } from './events-view.js';

const seconds = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`${name} must be a positive number of seconds`);
  return n;
};

/** The broker URL without its password, for the title. */
function safeUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

export function addEventsCommand(program: Command, appFor: (cmd: Command) => Promise<App>): void {
  program
    .command('events')
    .description('watch workers and tasks through their events (a live view on a terminal; lines when piped)')
    .option('-A, --app <module>', 'module exporting the app')
    .option('-d, --dump', 'print every event as one JSON line')
    .option('-F, --freq <seconds>', 'redraw at most this often on a terminal', seconds('--freq'), 1)
    .option('--max-tasks <n>', 'tasks kept in memory', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new InvalidArgumentError('--max-tasks must be a whole number >= 1');
      return n;
    })
    .action(async (o: { dump?: boolean; freq: number; maxTasks?: number }, cmd: Command) => {
      const app = await appFor(cmd);
      const out = process.stdout;
      const live = !o.dump && out.isTTY === true;
      const state = app.events.state(o.maxTasks ? { maxTasks: o.maxTasks } : {});
      let dirty = true;
      const onEvent = o.dump
        ? (e: CeleryEvent) => out.write(`${renderDump(e)}\n`)
        : live
          ? (e: CeleryEvent) => {
              state.event(e);
              dirty = true;
            }
          : (e: CeleryEvent) => out.write(`${renderLine(e)}\n`);
      const receiver = app.events.receiver({
        handlers: { '*': onEvent },
        wakeup: true,
        localize: !o.dump,
        onError: (err) => process.stderr.write(`celeriac events: ${err.message}\n`),
      });
      const title = `celeriac events  ${safeUrl(app.conf.brokerUrl)}`;
      let timer: NodeJS.Timeout | null = null;
      const draw = () => {
        if (!dirty) return;
        dirty = false;
        const screen = renderScreen(state, {
          title,
          width: out.columns ?? 120,
          height: out.rows ?? 40,
          now: Date.now() / 1000,
        });
        out.write(`\x1b[H\x1b[2J${screen}`);
      };
      let stopping = false;
      const stop = async () => {
        if (stopping) process.exit(1);
        stopping = true;
        if (timer) clearInterval(timer);
        if (live) out.write('\x1b[?25h\x1b[?1049l'); // cursor back, main screen back
        await receiver.close().catch(() => {});
        await app.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
      await receiver.start();
      if (live) {
        out.write('\x1b[?1049h\x1b[?25l'); // alternate screen, cursor hidden
        out.on('resize', () => {
          dirty = true;
        });
        draw();
        // Heartbeat ages and liveness change with time alone: redraw at least every second or so.
        timer = setInterval(() => {
          dirty = true;
          draw();
        }, o.freq * 1000);
      } else if (!o.dump) process.stderr.write(`-> ${title}: capturing (one line per event)\n`);
    });
}
