/**
 * `celeriac dashboard`: the built-in dashboard as a process of its own, Flower's place (port 5555). It
 * reads the cluster through events, remote control and the broker (src/dashboard/), so it sees Python
 * Celery workers as well as ours. Binds 127.0.0.1 unless given an address, and then only with
 * `--basic-auth` or `--token` (it refuses to start otherwise, saying why).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { DASHBOARD_DEFAULTS } from '../dashboard/options.js';
import { serveDashboard } from '../dashboard/server.js';
import { appFor } from './client-app.js';

const whole = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

interface DashboardCliOptions {
  port: number;
  address: string;
  basicAuth?: string;
  token?: string;
  readOnly?: boolean;
  maxTasks: number;
}

export function addDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('serve the web dashboard: workers, tasks, queues, workflows and actions (docs/dashboard.md)')
    .option('-A, --app <module>', 'module exporting the app')
    .option('--port <port>', 'port to listen on', whole('--port'), DASHBOARD_DEFAULTS.port)
    .option(
      '--address <host>',
      'address to bind (anything but loopback needs --basic-auth or --token)',
      DASHBOARD_DEFAULTS.address,
    )
    .option('--basic-auth <user:pass>', 'require HTTP Basic auth with these credentials')
    .option('--token <secret>', 'require this bearer token (a browser: open /?token=<secret> once)')
    .option('--read-only', 'disable every action (revoke, retry, rate limits, shutdown …)')
    .option(
      '--max-tasks <n>',
      'tasks kept in memory, the oldest first out',
      whole('--max-tasks'),
      DASHBOARD_DEFAULTS.maxTasks,
    )
    .action(async (o: DashboardCliOptions, cmd: Command) => {
      const app = await appFor(cmd);
      let server: Awaited<ReturnType<typeof serveDashboard>>;
      try {
        server = await serveDashboard(app, {
          port: o.port,
          address: o.address,
          basicAuth: o.basicAuth ?? process.env.CELERIAC_DASHBOARD_BASIC_AUTH,
          token: o.token ?? process.env.CELERIAC_DASHBOARD_TOKEN,
          readOnly: o.readOnly === true,
          maxTasks: o.maxTasks,
        });
      } catch (err) {
        await app.close();
        throw err;
      }
      process.stderr.write(`celeriac dashboard: ${server.url}${o.readOnly ? ' (read-only)' : ''}\n`);
      const stop = () => {
        server
          .close()
          .then(() => app.close())
          .then(
            () => process.exit(0),
            () => process.exit(1),
          );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise<never>(() => {});
    });
}
