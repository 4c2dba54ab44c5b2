/**
 * What a workload module gets from the harness: options, a feed farm on demand, unique queue names, and
 * `withWorker`, which starts a system's worker, samples its process tree and always stops it and purges
 * the queue afterwards.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { runJson, startWorker, type WorkerHandle } from './proc.js';
import { configLabel, ROOT, SYSTEMS, type SystemId, type TaskName, type WorkerConfig } from './systems.js';

export type SystemOrCeiling = SystemId | 'ceiling';

export type Metrics = Record<string, number>;

export interface Case {
  /** Stable id across repetitions, e.g. `feedhub-5000/celery-eventlet-1000`. */
  id: string;
  label: string;
  system: SystemOrCeiling;
  /** Grouping inside the workload's table (e.g. the N of the feed hub). */
  group: string;
  run(ctx: BenchContext): Promise<Metrics>;
}

export interface Workload {
  name: string;
  title: string;
  cases(ctx: BenchContext): Case[];
}

/** Thrown by a case that cannot run in this checkout (e.g. a worker flag not implemented yet). */
export class Skip extends Error {}

export interface RunRecord {
  workload: string;
  group: string;
  case: string;
  label: string;
  system: SystemOrCeiling;
  rep: number;
  metrics: Metrics;
  error?: string;
  skipped?: string;
}

export interface FeedFarm {
  baseUrl: string;
  /** A JSON file holding the first `n` feed URLs. */
  urlsFile(n: number): string;
}

export interface BenchContext {
  smoke: boolean;
  rep: number;
  systems: ReadonlySet<SystemOrCeiling>;
  /** Scratch directory (gitignored): worker logs, id lists, URL lists. */
  tmp: string;
  redisUrl: string;
  log(msg: string): void;
  feeds(): Promise<FeedFarm>;
  queue(tag: string): string;
}

let seq = 0;
export function uniqueQueue(tag: string): string {
  seq++;
  return `bench.${tag}.${process.pid}.${Date.now().toString(36)}.${seq}`;
}

export function caseId(cfg: WorkerConfig): string {
  return [cfg.system, cfg.pool, cfg.concurrency, ...(cfg.extra ?? [])].join('-').replace(/[^\w.-]+/g, '');
}

/** Run a driver command of `system` and return its JSON. */
export function drive<T = Record<string, unknown>>(system: SystemId, args: string[]): Promise<T> {
  return runJson<T>(SYSTEMS[system].driver(args));
}

/** Start `cfg`'s worker on `queue`, run `fn`, then stop it and purge the queue whatever happened. */
export async function withWorker<T>(
  ctx: BenchContext,
  cfg: WorkerConfig,
  task: TaskName,
  queue: string,
  fn: (w: WorkerHandle) => Promise<T>,
): Promise<T> {
  const sys = SYSTEMS[cfg.system];
  const missing = await sys.unsupported(cfg);
  if (missing) throw new Skip(missing);
  const logPath = join(ctx.tmp, `${queue}.log`);
  ctx.log(`    start ${configLabel(cfg)} (log ${logPath})`);
  const w = await startWorker(sys.worker(cfg, queue, task), sys.ready, logPath);
  try {
    return await fn(w);
  } finally {
    await w.stop();
    await drive(cfg.system, ['purge', '--queue', queue]).catch((err: Error) =>
      ctx.log(`    purge ${queue} failed: ${err.message}`),
    );
  }
}

/** Start the feed farm process; resolves once it listens with every body rendered. */
export async function startFeedFarm(
  feeds: number,
  latencyMs: number,
  tmp: string,
): Promise<FeedFarm & { close(): Promise<void> }> {
  const urlsPath = join(tmp, `feeds-${process.pid}.json`);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/lib/feed-server-main.ts',
      '--feeds',
      String(feeds),
      '--latency',
      String(latencyMs),
      '--urls-out',
      urlsPath,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => resolve(l));
    child.once('exit', (code) => reject(new Error(`feed server exited with ${code}`)));
  });
  const { baseUrl } = JSON.parse(line) as { baseUrl: string };
  const all = JSON.parse(readFileSync(urlsPath, 'utf8')) as string[];
  const files = new Map<number, string>();
  return {
    baseUrl,
    urlsFile(n: number) {
      let f = files.get(n);
      if (!f) {
        if (n > all.length) throw new Error(`the feed farm serves ${all.length} feeds, ${n} asked`);
        f = join(tmp, `feeds-${process.pid}-${n}.json`);
        writeFileSync(f, JSON.stringify(all.slice(0, n)));
        files.set(n, f);
      }
      return f;
    },
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
