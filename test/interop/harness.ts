/**
 * Processes for the interop tests: a Python Celery 5.2 client driven over JSON lines (py/driver.py),
 * Python Celery workers, and Celeriac workers started through the CLI. Every process is started in its
 * own process group and stopped by its pid (TERM, then KILL after a grace period).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
export const PY_DIR = join(dirname(fileURLToPath(import.meta.url)), 'py');
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const pythonCeleryAvailable =
  spawnSync(PYTHON, ['-c', 'import celery, eventlet, redis'], { stdio: 'ignore' }).status === 0;

export interface PyError {
  exc_type: string;
  exc_module: string;
  message: string;
  traceback: string | null;
  state: string;
}

/** A long-lived Python client: one process, many requests. */
export class PyDriver {
  readonly #proc: ChildProcess;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #n = 0;
  stderr = '';

  /** `script`: the driver in py/ (driver.py; canvas_driver.py for the canvas tests). */
  constructor(env: Record<string, string>, script = 'driver.py') {
    this.#proc = spawn(PYTHON, [script], {
      cwd: PY_DIR,
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
    this.#proc.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    createInterface({ input: this.#proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const msg = JSON.parse(line) as {
        n: number;
        ok: boolean;
        value?: unknown;
        message?: string;
        traceback?: string;
      };
      const p = this.#pending.get(msg.n);
      this.#pending.delete(msg.n);
      if (!p) return;
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new Error(`python driver: ${msg.message}\n${msg.traceback}`));
    });
    this.#proc.on('exit', (code) => {
      for (const p of this.#pending.values())
        p.reject(new Error(`python driver exited (${code}): ${this.stderr}`));
      this.#pending.clear();
    });
  }

  call<T = unknown>(op: string, fields: Record<string, unknown> = {}): Promise<T> {
    const n = ++this.#n;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(n, { resolve: resolve as (v: unknown) => void, reject });
      this.#proc.stdin?.write(`${JSON.stringify({ n, op, ...fields })}\n`);
    });
  }

  send(name: string, args: unknown[] = [], extra: Record<string, unknown> = {}): Promise<string> {
    return this.call<string>('send', { name, args, ...extra });
  }

  /** The result as Python's AsyncResult.get() sees it: a value, or the exception it raised. */
  get(id: string, timeout = 30): Promise<{ value?: unknown; state?: string; error?: PyError }> {
    return this.call('get', { id, timeout });
  }

  async close(): Promise<void> {
    this.#proc.stdin?.end();
    await stopProcess(this.#proc, 5000);
  }
}

/** A started worker process with its log. */
export interface WorkerProcess {
  proc: ChildProcess;
  log(): string;
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL the whole process group at once, as an OOM killer or a power cut would. */
  kill9(): Promise<void>;
}

function startProcess(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string> },
  ready: RegExp,
  what: string,
): Promise<WorkerProcess> {
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: 'pipe',
    detached: true,
  });
  let log = '';
  const onData = (d: Buffer) => {
    log += d.toString();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const wp: WorkerProcess = {
    proc,
    log: () => log,
    stop: (graceMs = 10_000) => stopProcess(proc, graceMs),
    kill9: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      process.kill(-(proc.pid as number), 'SIGKILL');
      await exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void wp.kill9();
      reject(new Error(`${what} did not become ready in 60 s:\n${log}`));
    }, 60_000);
    const check = () => {
      if (ready.test(log)) {
        clearTimeout(timer);
        proc.stdout?.off('data', check);
        proc.stderr?.off('data', check);
        resolve(wp);
      }
    };
    proc.stdout?.on('data', check);
    proc.stderr?.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready:\n${log}`));
    });
  });
}

/** TERM the process group, wait, then KILL it. */
export async function stopProcess(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  const signal = (sig: NodeJS.Signals) => {
    try {
      // Detached processes lead their own group: signal the group, so prefork children go too.
      process.kill(-(proc.pid as number), sig);
    } catch {
      try {
        proc.kill(sig);
      } catch {}
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function startPythonWorker(o: {
  pool: 'eventlet' | 'prefork' | 'solo';
  queue: string;
  name: string;
  env: Record<string, string>;
  /** The Celery app module in py/ (pytasks). */
  app?: string;
  /** Run mingle at start-up (off by default: --without-mingle). */
  mingle?: boolean;
}): Promise<WorkerProcess> {
  return startProcess(
    PYTHON,
    [
      '-m',
      'celery',
      '-A',
      o.app ?? 'pytasks',
      'worker',
      '-P',
      o.pool,
      '-c',
      '1',
      '-Q',
      o.queue,
      '-n',
      `${o.name}@%h`,
      '-l',
      'info',
      '--without-gossip',
      ...(o.mingle ? [] : ['--without-mingle']),
      '--without-heartbeat',
    ],
    { cwd: PY_DIR, env: { ...o.env, INTEROP_QUEUE: o.queue } },
    / ready\./,
    `python celery worker (${o.pool})`,
  );
}

export function startCeleriacWorker(o: {
  queue: string;
  env: Record<string, string>;
  args?: string[];
}): Promise<WorkerProcess> {
  return startProcess(
    process.execPath,
    [
      join(ROOT, 'bin', 'celeriac.js'),
      'worker',
      '-A',
      join(ROOT, 'test', 'interop', 'celeriac-app.ts'),
      '-Q',
      o.queue,
      '-l',
      'info',
      ...(o.args ?? []),
    ],
    { cwd: ROOT, env: o.env },
    / ready: /,
    'celeriac worker',
  );
}
