/**
 * Small helpers shared by the example runners: a progress display (a bar on a TTY, plain lines in logs
 * and CI), percentiles, and the default broker (an SQLite file in a fresh temp dir).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBroker } from '../../src/brokers/registry.js';
import { createLogger, type Logger, type LogLevel } from '../../src/index.js';

/** Value at quantile q (0..1) of an ascending array; NaN when empty. Nearest-rank. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Progress {
  tick(n?: number): void;
  done(): void;
}

/**
 * A progress display on stderr. On a TTY: one redrawn bar, at most 10 redraws a second. Otherwise: a
 * plain line at every 10%, so logs stay readable.
 */
export function progress(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  const t0 = performance.now();
  let count = 0;
  let lastDraw = 0;
  let lastDecile = -1;
  let drawnCount = -1;
  const tty = stream.isTTY === true;
  const line = (): string => {
    const secs = (performance.now() - t0) / 1000;
    const rate = secs > 0 ? count / secs : 0;
    return `${label} ${count}/${total} (${Math.round((100 * count) / Math.max(1, total))}%) ${rate.toFixed(0)}/s`;
  };
  const draw = (force: boolean): void => {
    if (force && count === drawnCount) return;
    if (tty) {
      const now = performance.now();
      if (!force && now - lastDraw < 100) return;
      lastDraw = now;
      drawnCount = count;
      const width = 30;
      const filled = Math.round((width * count) / Math.max(1, total));
      stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${line()}\x1b[K`);
    } else {
      const decile = Math.floor((10 * count) / Math.max(1, total));
      if (decile === lastDecile && !force) return;
      lastDecile = decile;
      drawnCount = count;
      stream.write(`${line()}\n`);
    }
  };
  return {
    tick(n = 1) {
      count += n;
      draw(false);
    },
    done() {
      draw(true);
      if (tty) stream.write('\n');
    },
  };
}

export interface TempBroker {
  url: string;
  /** A sentence for the output when the default had to fall back. */
  note: string | null;
  cleanup(): void;
}

/**
 * The broker URL to use: the one given, or an SQLite file in a new temp dir (the embedded default).
 * Falls back to memory:// only when this build has no sqlite:// adapter, and says so.
 */
export async function resolveBroker(given: string | undefined, name: string): Promise<TempBroker> {
  if (given) return { url: given, note: null, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), `celeriac-${name}-`));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const url = `sqlite://${join(dir, `${name}.db`)}`;
  try {
    const probe = await createBroker(url);
    await probe.close();
    return { url, note: null, cleanup };
  } catch (err) {
    if ((err as { code?: string }).code !== 'E_CONFIG') throw err;
    cleanup();
    return {
      url: `memory://${name}`,
      note: 'the sqlite:// broker is not in this build yet; using memory:// (in-process worker only)',
      cleanup: () => {},
    };
  }
}

export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** CPU seconds of a Linux process from /proc (utime + stime, in clock ticks of 1/100 s); null elsewhere. */
export function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

export interface ChildWorkerOptions {
  /** App module, relative to the repository root. */
  app: string;
  pool: string;
  concurrency: number;
  queue: string;
  broker: string;
  /** Result backend URL. @defaultValue the broker URL */
  backend?: string;
  quiet?: boolean;
  /** Drop worker log records whose first line matches (e.g. expected task failures); stack lines go with them. */
  dropLog?: RegExp;
  /** Sees each log record's first line; returning true takes it (not printed), e.g. to sum it up later. */
  onLog?: (line: string) => boolean;
}

/**
 * Start `celeriac worker` (bin/celeriac.js, TypeScript through tsx) in a child process and resolve once
 * it prints its ready line. Other worker output is passed through, prefixed.
 */
export async function startChildWorker(o: ChildWorkerOptions): Promise<ChildProcess> {
  const args = ['bin/celeriac.js', 'worker', '-A', o.app, '-P', o.pool, '-c', String(o.concurrency)];
  args.push('-Q', o.queue);
  // The app module builds its app from the environment, as a deployed worker would.
  const env = {
    ...process.env,
    CELERIAC_BROKER_URL: o.broker,
    CELERIAC_RESULT_BACKEND: o.backend ?? o.broker,
  };
  // EXAMPLE_WORKER_NODE_ARGS passes flags to the worker's node (e.g. "--cpu-prof"), which NODE_OPTIONS refuses.
  const nodeArgs = (process.env.EXAMPLE_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    let ready = false;
    let dropping = false;
    child.stderr!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl = buf.indexOf('\n');
      while (nl !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!ready && / ready: /.test(line)) {
          ready = true;
          if (!o.quiet) process.stderr.write(`worker: ${line}\n`);
          resolve();
        } else {
          // A record starts with '[date: LEVEL/...]'; continuation lines (stack traces) follow its fate.
          if (line.startsWith('[')) dropping = (o.dropLog?.test(line) ?? false) || (o.onLog?.(line) ?? false);
          if (!dropping) process.stderr.write(`[worker] ${line}\n`);
        }
        nl = buf.indexOf('\n');
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`the worker exited with code ${code} before it was ready`)),
    );
  });
  return child;
}

/** Warm shutdown (SIGTERM: the worker finishes running tasks), then wait for the exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/** A worker logger that drops records matching `drop` (e.g. expected task failures) and prints the rest. */
export function filteredLogger(level: LogLevel, drop: RegExp): Logger {
  const inner = createLogger(level);
  return {
    enabled: (l) => inner.enabled(l),
    log: (l, message) => {
      if (!drop.test(message)) inner.log(l, message);
    },
  };
}
