/**
 * Processes for the benchmarks: workers the harness starts and stops itself, drivers that print one JSON
 * line, and the CPU/RSS of a worker's whole process tree read from /proc (Linux only).
 *
 * - CPU: utime + stime + cutime + cstime (clock ticks, /proc/<pid>/stat fields 14-17) summed over the root
 *   and every live descendant, so prefork children count and reaped ones stay counted in their parent.
 * - RSS: field 24 (pages) summed over the tree; pages shared by forked children are counted once per
 *   process, as `ps` does (an upper bound for prefork pools).
 * - Every process started here is registered and killed (by pid) if the harness exits early.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Linux USER_HZ and page size: constant on x86-64 Linux (`getconf CLK_TCK`, `getconf PAGESIZE`). */
const CLK_TCK = 100;
const PAGE = 4096;
const SAMPLE_MS = 250;

export interface Spec {
  cmd: string;
  args: string[];
  cwd: string;
  env?: Record<string, string>;
}

interface Stat {
  ppid: number;
  cpuTicks: number;
  rssPages: number;
}

function readStat(pid: number): Stat | null {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: fields start after the last ')'.
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): field k is f[k - 3].
  return {
    ppid: Number(f[1]),
    cpuTicks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    rssPages: Number(f[21]),
  };
}

/** The live pids of the trees of `roots` (each root before its descendants), from one scan of /proc. */
export function treePids(roots: number | readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  const out: number[] = [];
  const stack = typeof roots === 'number' ? [roots] : [...roots].reverse();
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

/**
 * Samples the CPU and RSS of one or more process trees every 250 ms, summed (a worker made of several
 * processes the harness started, e.g. BullMQ twice, is one worker); `cpu()` reads the CPU right now.
 */
export class TreeSampler {
  readonly roots: readonly number[];
  #pids: number[];
  #timer: NodeJS.Timeout | null = null;
  #peakRss = 0;

  constructor(roots: number | readonly number[]) {
    this.roots = typeof roots === 'number' ? [roots] : [...roots];
    this.#pids = treePids(this.roots);
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
    this.#timer.unref();
    this.#sample();
  }

  #sample(): { cpuTicks: number; rss: number } {
    this.#pids = treePids(this.roots);
    let cpuTicks = 0;
    let rssPages = 0;
    for (const pid of this.#pids) {
      const st = readStat(pid);
      if (!st) continue;
      cpuTicks += st.cpuTicks;
      rssPages += st.rssPages;
    }
    const rss = rssPages * PAGE;
    if (rss > this.#peakRss) this.#peakRss = rss;
    return { cpuTicks, rss };
  }

  /** CPU seconds used so far by the tree. */
  cpu(): number {
    return this.#sample().cpuTicks / CLK_TCK;
  }

  /** Peak RSS (bytes) since `resetPeak()` (or start). */
  peakRss(): number {
    this.#sample();
    return this.#peakRss;
  }

  resetPeak(): void {
    this.#peakRss = 0;
    this.#sample();
  }

  pids(): number[] {
    return [...this.#pids];
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

const live = new Set<ChildProcess>();
const liveTrees = new Map<number, TreeSampler>();

function killEverything(): void {
  for (const t of liveTrees.values()) {
    for (const pid of t.pids().reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  for (const c of live) c.kill('SIGKILL');
}
/** Have `child` killed with the workers if the harness exits early (e.g. the feed farm). */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Kill every process started here when the harness exits or is interrupted (called by run.ts). */
export function installCleanup(): void {
  process.on('exit', killEverything);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killEverything();
      process.exit(130);
    });
  }
}

export interface WorkerHandle {
  /** The first process's pid (a worker of several processes has one root per process). */
  pid: number;
  /** CPU and RSS of every process tree of the worker, summed. */
  sampler: TreeSampler;
  /** Warm stop (SIGTERM), then SIGKILL of the whole tree after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

interface Started {
  child: ChildProcess;
  exited: Promise<number | null>;
  log: ReturnType<typeof createWriteStream>;
}

/** Spawn one process and resolve once a line of its output matches `ready` (killed if it never does). */
async function spawnReady(spec: Spec, ready: RegExp, logPath: string, timeoutMs: number): Promise<Started> {
  const child = spawn(spec.cmd, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const log = createWriteStream(logPath);
  log.write(`$ ${spec.cmd} ${spec.args.join(' ')}\n`);
  let tail = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not ready after ${timeoutMs} ms: ${spec.cmd} ${spec.args.join(' ')}`)),
        timeoutMs,
      );
      const onData = (buf: Buffer) => {
        log.write(buf);
        tail = (tail + buf.toString()).slice(-4000);
        if (ready.test(tail)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code} before ready: ${spec.args.join(' ')}\n${tail.slice(-1500)}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    live.delete(child);
    log.end();
    throw err;
  }
  return { child, exited, log };
}

/** Start a long-running process and resolve once a line of its output matches `ready`. */
export function startWorker(
  spec: Spec,
  ready: RegExp,
  logPath: string,
  timeoutMs = 60_000,
): Promise<WorkerHandle> {
  return startWorkers([spec], ready, [logPath], timeoutMs);
}

/**
 * Start several processes that together are one worker (e.g. two BullMQ workers on one queue), each with
 * its own log, and resolve once every one is ready. They start together: start-up is not measured. CPU
 * and RSS are sampled over all their trees at once, so the peak RSS is that of the sum.
 */
export async function startWorkers(
  specs: readonly Spec[],
  ready: RegExp,
  logPaths: readonly string[],
  timeoutMs = 60_000,
): Promise<WorkerHandle> {
  const settled = await Promise.allSettled(
    specs.map((s, i) => spawnReady(s, ready, logPaths[i]!, timeoutMs)),
  );
  const procs = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const stopAll = async (graceMs: number, pids: number[]) => {
    for (const p of procs) p.child.kill('SIGTERM');
    const all = Promise.all(procs.map((p) => p.exited));
    const done = await Promise.race([all.then(() => true), sleep(graceMs).then(() => false)]);
    for (const p of pids.reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* exited */
      }
    }
    if (!done) await all;
    for (const p of procs) {
      live.delete(p.child);
      p.log.end();
    }
  };
  if (failed) {
    // One copy never got ready: the others are stopped, and the case fails with the first reason.
    await stopAll(
      5_000,
      procs.map((p) => p.child.pid!),
    );
    throw failed.reason;
  }
  const pid = procs[0]!.child.pid!;
  const sampler = new TreeSampler(procs.map((p) => p.child.pid!));
  liveTrees.set(pid, sampler);
  return {
    pid,
    sampler,
    async stop(graceMs = 30_000) {
      const pids = sampler.pids();
      sampler.stop();
      await stopAll(graceMs, pids);
      liveTrees.delete(pid);
    },
  };
}

/** Run a driver to completion and parse the last JSON line of its stdout. */
export async function runJson<T = Record<string, unknown>>(spec: Spec, timeoutMs = 900_000): Promise<T> {
  const child = spawn(spec.cmd, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-4000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  live.delete(child);
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) {
    throw new Error(`${spec.cmd} ${spec.args.join(' ')} exited with ${code}\n${err.slice(-1500)}`);
  }
  return JSON.parse(line) as T;
}

/** Run a command and return its trimmed stdout ('' on failure): versions and machine facts. */
export async function capture(cmd: string, args: string[], cwd = process.cwd()): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.once('error', () => resolve(''));
    child.once('exit', (code) => resolve(code === 0 ? out.trim() : ''));
  });
}
