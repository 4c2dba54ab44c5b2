/**
 * `celeriac control <command> [args…]` and `celeriac revoke <id…>`: Celery's control commands (revoke,
 * rate_limit, pool_grow, add_consumer, shutdown …) against any Celery-protocol workers on the broker,
 * printed as `celery control` prints them (remote.ts). Replies are collected, as Celery's CLI does;
 * `shutdown` gets none from any worker (they stop before replying), which prints Celery's
 * "No nodes replied" error too.
 */
import type { Command } from 'commander';
import type { App } from '../app/app.js';
import type { NodeReply } from '../control/client.js';
import { appFor } from './client-app.js';
import {
  CONTROL_COMMANDS,
  compileArguments,
  destinations,
  noReplies,
  type RemoteOptions,
  remoteOptions,
  sayReply,
  usage,
} from './remote.js';

async function send(
  app: App,
  method: string,
  args: Record<string, unknown>,
  o: RemoteOptions,
): Promise<void> {
  const destination = destinations(o);
  const replies = await app.control.broadcast(method, args, {
    reply: true,
    timeout: o.timeout,
    ...(destination ? { destination } : {}),
    ...(o.json ? {} : { callback: (r: NodeReply) => process.stdout.write(sayReply(r, true)) }),
  });
  if (!replies.length) return noReplies();
  if (o.json) process.stdout.write(`${JSON.stringify(replies)}\n`);
}

export function addControlCommands(program: Command): void {
  remoteOptions(
    program
      .command('control <command> [args...]')
      .description(`control workers at run time: ${Object.keys(CONTROL_COMMANDS).join(', ')}`)
      .option('-A, --app <module>', 'module exporting the app'),
  ).action(async (method: string, args: string[], o: RemoteOptions, cmd: Command) => {
    const meta = CONTROL_COMMANDS[method];
    if (!meta)
      throw usage(
        `"${method}" is not a control command (one of ${Object.keys(CONTROL_COMMANDS).join(', ')})`,
      );
    const compiled = compileArguments(method, meta, args);
    const app = await appFor(cmd);
    try {
      await send(app, method, compiled, o);
    } finally {
      await app.close();
    }
  });

  remoteOptions(
    program
      .command('revoke <ids...>')
      .description('revoke tasks by id: workers will not run them (with --terminate, stop them if running)')
      .option('-A, --app <module>', 'module exporting the app')
      .option('--terminate', 'also terminate the task if it is running')
      .option('-s, --signal <name>', 'signal for --terminate on process pools', 'SIGTERM'),
  ).action(
    async (ids: string[], o: RemoteOptions & { terminate?: boolean; signal: string }, cmd: Command) => {
      const app = await appFor(cmd);
      try {
        await send(app, 'revoke', { task_id: ids, terminate: o.terminate === true, signal: o.signal }, o);
      } finally {
        await app.close();
      }
    },
  );
}
