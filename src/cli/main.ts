/**
 * The `celeriac` command: worker, beat, call, result, purge, inspect, control, status, revoke, dead-letter, dashboard. `-A` works before or after the command, as in
 * Celery (`celeriac -A ./tasks.ts worker` and `celeriac worker -A ./tasks.ts`). Errors a person can act
 * on are printed without a stack trace and exit with status 1 (2 for usage errors).
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { CeleriacError, ConfigError, TaskError } from '../errors.js';
import type { SendOptions } from '../task/options.js';
import { VERSION } from '../version.js';
import { addBeatCommand } from './beat.js';
import { appFor } from './client-app.js';
import { confirmed } from './confirm.js';
import { addControlCommands } from './control.js';
import { addDashboardCommand } from './dashboard.js';
import { addDeadLetterCommand } from './dead-letter.js';
import { addEventsCommand } from './events.js';
import { addInspectCommands } from './inspect.js';
import { addWorkerCommand } from './worker.js';

export const number = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};

function json(name: string) {
  return (v: string) => {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      throw new InvalidArgumentError(
        `${name} must be JSON, e.g. ${name === '--args' ? "'[2, 3]'" : `'{"y": 3}'`}`,
      );
    }
  };
}

export { appFor } from './client-app.js';

export function buildProgram(): Command {
  const program = new Command('celeriac')
    .description('Distributed task queue for TypeScript, speaking Celery’s protocol')
    .version(VERSION, '--version')
    .option('-A, --app <module>', 'module exporting the app (./tasks.ts, ./tasks.js or a package)')
    .option('-b, --broker <url>', 'broker URL (overrides CELERIAC_BROKER_URL and the app setting)')
    .option('--result-backend <url>', 'result backend URL (overrides CELERIAC_RESULT_BACKEND)')
    .enablePositionalOptions()
    .showHelpAfterError();

  addWorkerCommand(program);
  addBeatCommand(program);
  addInspectCommands(program);
  addControlCommands(program);
  addEventsCommand(program, appFor);
  addDashboardCommand(program);

  program
    .command('call <name>')
    .description('publish a task by name and print its id')
    .option('-A, --app <module>', 'module exporting the app')
    .option('--args <json>', 'positional arguments as a JSON array', json('--args'), [])
    .option('--kwargs <json>', 'keyword arguments as a JSON object', json('--kwargs'), {})
    .option('--countdown <seconds>', 'run after this many seconds', number('--countdown'))
    .option('--eta <iso>', 'run at this time (ISO 8601)')
    .option('--expires <seconds>', 'discard if not started within this many seconds', number('--expires'))
    .option('-Q, --queue <name>', 'queue to publish to')
    .option('--priority <n>', 'message priority 0-9', number('--priority'))
    .option('-w, --wait', 'after the id, wait for the result and print it as JSON (the way to use rpc://)')
    .option('-t, --timeout <seconds>', 'with --wait: give up after this many seconds', number('--timeout'))
    .action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
      if (!Array.isArray(o.args)) throw new InvalidArgumentError('--args must be a JSON array');
      const app = await appFor(cmd);
      const options: SendOptions = {};
      if (o.countdown !== undefined) options.countdown = o.countdown as number;
      if (o.eta !== undefined) options.eta = new Date(o.eta as string);
      if (o.expires !== undefined) options.expires = o.expires as number;
      if (o.queue !== undefined) options.queue = o.queue as string;
      if (o.priority !== undefined) options.priority = o.priority as number;
      try {
        const r = await app.sendTask(name, o.args as unknown[], o.kwargs as Record<string, unknown>, options);
        process.stdout.write(`${r.id}\n`);
        if (o.wait) {
          const value = await r.get(o.timeout !== undefined ? { timeout: o.timeout as number } : {});
          process.stdout.write(`${JSON.stringify(value)}\n`);
        }
      } finally {
        await app.close();
      }
    });

  program
    .command('result <id>')
    .description('wait for a task result and print it as JSON')
    .option('-A, --app <module>', 'module exporting the app')
    .option('-t, --timeout <seconds>', 'give up after this many seconds', number('--timeout'))
    .action(async (id: string, o: { timeout?: number }, cmd: Command) => {
      const app = await appFor(cmd);
      try {
        // An rpc:// result goes only to the reply queue of the process that sent the task: waiting for it
        // here would never end, so say so at once.
        if (app.conf.resultBackend?.startsWith('rpc:')) throw new ConfigError(RPC_ELSEWHERE);
        const value = await app.AsyncResult(id).get(o.timeout !== undefined ? { timeout: o.timeout } : {});
        process.stdout.write(`${JSON.stringify(value)}\n`);
      } finally {
        await app.close();
      }
    });

  program
    .command('purge')
    .description('delete all ready messages of queues')
    .option('-A, --app <module>', 'module exporting the app')
    .option('-Q, --queues <names>', 'comma-separated queues (default: the default queue)')
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (o: { queues?: string; force?: boolean }, cmd: Command) => {
      const app = await appFor(cmd);
      try {
        const queues = o.queues ? o.queues.split(',').filter(Boolean) : [app.conf.taskDefaultQueue];
        if (!(await confirmed(`Delete all messages in ${queues.join(', ')}?`, o.force))) return;
        const broker = await app.broker();
        let total = 0;
        for (const q of queues) total += await broker.purge(q);
        process.stdout.write(
          `Purged ${total} message${total === 1 ? '' : 's'} from ${queues.length} known task queue${queues.length === 1 ? '' : 's'}.\n`,
        );
      } finally {
        await app.close();
      }
    });

  addDeadLetterCommand(program, appFor);

  // Celery 4 users type the connection after the command (`celeriac worker -b redis://…`): every
  // command takes them too, and the command's own value wins over one given before it.
  // Nested commands (`inspect ping`, `dead-letter list`) take them at their own level too.
  const addConnection = (cmds: readonly Command[]): void => {
    for (const cmd of cmds) {
      if (!cmd.options.some((o) => o.long === '--broker'))
        cmd.option('-b, --broker <url>', 'broker URL (overrides CELERIAC_BROKER_URL and the app setting)');
      if (!cmd.options.some((o) => o.long === '--result-backend'))
        cmd.option('--result-backend <url>', 'result backend URL (overrides CELERIAC_RESULT_BACKEND)');
      addConnection(cmd.commands);
    }
  };
  addConnection(program.commands);
  return program;
}

const RPC_ELSEWHERE =
  'celeriac result cannot read an rpc:// result: rpc results are sent only to the reply queue of the ' +
  'process that sent the task, so no other process ever sees them (this one would wait forever). ' +
  'Wait where you send (celeriac call --wait <name>, or AsyncResult.get() in the sending app), or use a ' +
  'result backend that stores results (--result-backend redis://… or sqlite://…).';

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof TaskError) {
      process.stderr.write(`${err.excType}: ${err.excMessage.join(', ')}\n`);
      process.exitCode = 1;
      return;
    }
    if (err instanceof CeleriacError) {
      process.stderr.write(`Error: ${err.message}\n`);
      process.exitCode = err.code === 'E_USAGE' ? 2 : 1;
      return;
    }
    throw err;
  }
}

await main();
