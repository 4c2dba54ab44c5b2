/**
 * The app of a client command (call, result, purge, inspect, control, status, revoke): the module given
 * with -A, else a Celeriac app built from the environment (CELERIAC_BROKER_URL …), so the client commands
 * work against Python workers without any TypeScript app.
 */
import type { Command } from 'commander';
import type { App } from '../app/app.js';
import { Celeriac } from '../celeriac.js';
import { loadApp } from '../loader/app.js';

/** The app for client commands: from -A when given, else one built from the environment. */
export async function appFor(cmd: Command): Promise<App> {
  const opts = cmd.optsWithGlobals() as { app?: string; broker?: string; resultBackend?: string };
  if (opts.broker) process.env.CELERIAC_BROKER_URL = opts.broker;
  if (opts.resultBackend) process.env.CELERIAC_RESULT_BACKEND = opts.resultBackend;
  if (opts.app) return (await loadApp(opts.app)).app;
  return new Celeriac();
}
