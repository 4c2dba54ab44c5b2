/**
 * `celeriac inspect <command> [args…]` and `celeriac status`: Celery's inspect commands against any
 * Celery-protocol workers (Celeriac's or Python's) on the broker, printed as `celery inspect` prints
 * them (remote.ts). `status` pings and lists the nodes that answered.
 */
import type { Command } from 'commander';
import type { NodeReply } from '../control/client.js';
import { appFor } from './client-app.js';
import {
  compileArguments,
  destinations,
  INSPECT_COMMANDS,
  nodesOnline,
  noReplies,
  type RemoteOptions,
  remoteOptions,
  sayReply,
  usage,
} from './remote.js';

export function addInspectCommands(program: Command): void {
  remoteOptions(
    program
      .command('inspect <command> [args...]')
      .description(`inspect workers at run time: ${Object.keys(INSPECT_COMMANDS).join(', ')}`)
      .option('-A, --app <module>', 'module exporting the app'),
  ).action(async (method: string, args: string[], o: RemoteOptions, cmd: Command) => {
    const meta = INSPECT_COMMANDS[method];
    if (!meta)
      throw usage(
        `"${method}" is not an inspect command (one of ${Object.keys(INSPECT_COMMANDS).join(', ')})`,
      );
    const app = await appFor(cmd);
    try {
      const destination = destinations(o);
      const callback = o.json ? undefined : (r: NodeReply) => process.stdout.write(sayReply(r, true));
      const replies = await app.control
        .inspect({
          timeout: o.timeout,
          ...(destination ? { destination } : {}),
          ...(callback ? { callback } : {}),
        })
        .request(method, compileArguments(method, meta, args));
      const n = Object.keys(replies).length;
      if (!n) return noReplies();
      process.stdout.write(o.json ? `${JSON.stringify(replies)}\n` : nodesOnline(n));
    } finally {
      await app.close();
    }
  });

  remoteOptions(
    program
      .command('status')
      .description('show the workers that are online (they answer ping)')
      .option('-A, --app <module>', 'module exporting the app'),
  ).action(async (o: RemoteOptions, cmd: Command) => {
    const app = await appFor(cmd);
    try {
      const destination = destinations(o);
      const callback = o.json ? undefined : (r: NodeReply) => process.stdout.write(sayReply(r, false));
      const replies = await app.control
        .inspect({
          timeout: o.timeout,
          ...(destination ? { destination } : {}),
          ...(callback ? { callback } : {}),
        })
        .ping();
      const n = Object.keys(replies).length;
      if (!n) return noReplies();
      if (o.json) process.stdout.write(`${JSON.stringify(replies)}\n`);
      process.stdout.write(nodesOnline(n));
    } finally {
      await app.close();
    }
  });
}
