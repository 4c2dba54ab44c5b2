/**
 * Processes for the browser tests, each in its own process group and stopped by its pid: the dashboard
 * (`celeriac dashboard`), a Celeriac worker (`celeriac worker -E`) and a Python Celery 5.2 worker
 * (`python3 -m celery worker -E`, heartbeats on so the dashboard sees it online), all on one Redis DB.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PY_DIR, PYTHON, ROOT, stopProcess } from '../interop/harness.js';

export const APP = join(ROOT, 'test', 'browser', 'app.ts');
const CLI = join(ROOT, 'bin', 'celeriac.js');

export interface Proc {
  proc: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

function start(cmd: string, args: string[], env: Record<string, string>, cwd = ROOT): Proc {
  const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: 'pipe', detached: true });
  let log = '';
  proc.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  return { proc, log: () => log, stop: () => stopProcess(proc, 10_000) };
}

/** Resolve when `log` matches `ready`; reject if the process exits first or after `ms`. */
async function ready(
  p: Proc,
  test: () => boolean | Promise<boolean>,
  what: string,
  ms = 60_000,
): Promise<Proc> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (p.proc.exitCode !== null || p.proc.signalCode !== null)
      throw new Error(
        `${what} exited (${p.proc.exitCode ?? p.proc.signalCode}) before it was ready:\n${p.log()}`,
      );
    if (Date.now() > deadline) {
      await p.stop();
      throw new Error(`${what} was not ready in ${ms / 1000} s:\n${p.log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return p;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

export interface Dashboard extends Proc {
  url: string;
  port: number;
}

/** `celeriac dashboard -A test/browser/app.ts --port <free> …args`, ready once it answers HTTP. */
export async function startDashboard(env: Record<string, string>, args: string[] = []): Promise<Dashboard> {
  const port = await freePort();
  const p = start(process.execPath, [CLI, 'dashboard', '-A', APP, '--port', String(port), ...args], env);
  const url = `http://127.0.0.1:${port}/`;
  await ready(
    p,
    async () => {
      try {
        await fetch(`${url}api/session`);
        return true;
      } catch {
        return false;
      }
    },
    'celeriac dashboard',
  );
  return { ...p, url, port };
}

/** Run `celeriac dashboard …args` expecting it to refuse to start: its exit code and output. */
export async function dashboardRefuses(
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number | null; log: string }> {
  const p = start(process.execPath, [CLI, 'dashboard', '-A', APP, ...args], env);
  const timer = setTimeout(() => void p.stop(), 60_000);
  const [code] = (await once(p.proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, log: p.log() };
}

export function startCeleriacWorker(
  env: Record<string, string>,
  queue: string,
  hostname: string,
): Promise<Proc> {
  const p = start(
    process.execPath,
    [CLI, 'worker', '-A', APP, '-Q', queue, '-n', hostname, '-E', '-c', '4', '-l', 'info'],
    env,
  );
  return ready(p, () => / ready: /.test(p.log()), 'celeriac worker');
}

/** A Python Celery worker on test/interop/py/pytasks.py (INTEROP_BROKER/BACKEND/QUEUE from `env`). */
export function startPythonWorker(env: Record<string, string>, queue: string, name: string): Promise<Proc> {
  const p = start(
    PYTHON,
    [
      '-m',
      'celery',
      '-A',
      'pytasks',
      'worker',
      '-E',
      '-P',
      'solo',
      '-Q',
      queue,
      '-n',
      `${name}@%h`,
      '-l',
      'info',
      '--without-mingle',
      '--without-gossip',
    ],
    { ...env, INTEROP_QUEUE: queue },
    PY_DIR,
  );
  return ready(p, () => / ready\./.test(p.log()), 'python celery worker');
}

/** Resolve when `check()` is true, polling every 100 ms; fail after `ms` (a ceiling, not an assertion). */
export async function until(check: () => Promise<boolean>, what: string, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
