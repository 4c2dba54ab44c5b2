/**
 * What a workload module gets from the harness: options, a feed farm on demand, unique queue names, the
 * broker endpoint of a case, and `withWorker`, which starts a system's worker, samples its process tree
 * and always stops it, purges the queue and removes what the case left on its broker afterwards.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { runJson, startWorkers, track, type WorkerHandle } from './proc.js';
import {
  type BrokerId,
  brokerOf,
  configLabel,
  ROOT,
  SYSTEMS,
  type SystemId,
  type TaskName,
  type WorkerConfig,
} from './systems.js';

export type SystemOrCeiling = SystemId | 'ceiling';

export type Metrics = Record<string, number>;

export interface Case {
  /** Stable id across repetitions, e.g. `feedhub-5000/celery-eventlet-1000`. */
  id: string;
  label: string;
  system: SystemOrCeiling;
  /** The broker (and result store) the case runs on; the ceilings have none and say 'redis'. */
  broker: BrokerId;
  /** Grouping inside the workload's table (e.g. the N of the feed hub). */
  group: string;
  /** Runs in the first repetition only, unless `--all-reps` (see WorkerConfig.once). */
  once?: boolean;
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
  /** Absent in results saved before brokers were a dimension: Redis. */
  broker?: BrokerId;
  rep: number;
  metrics: Metrics;
  error?: string;
  skipped?: string;
  /** Wall time of the whole case (worker start and stop, drivers, clean-up): where the run's time goes. */
  seconds?: number;
}

export interface FeedFarm {
  baseUrl: string;
  /** A JSON file holding the first `n` feed URLs. */
  urlsFile(n: number): string;
}

export interface BenchContext {
  smoke: boolean;
  rep: number;
  /** The feed hub's N (one table group each); `--feed-sizes`, default 5,000. */
  feedSizes: readonly number[];
  systems: ReadonlySet<SystemOrCeiling>;
  brokers: ReadonlySet<BrokerId>;
  /** Scratch directory (gitignored): worker logs, id lists, URL lists, SQLite files. */
  tmp: string;
  redisUrl: string;
  amqpUrl: string;
  log(msg: string): void;
  feeds(): Promise<FeedFarm>;
  queue(tag: string): string;
}

let seq = 0;
export function uniqueQueue(tag: string): string {
  seq++;
  return `bench.${tag}.${process.pid}.${Date.now().toString(36)}.${seq}`;
}

/** `celeriac-async-1000`, with `@amqp` / `@sqlite` appended off Redis (Redis ids predate brokers). */
export function caseId(cfg: WorkerConfig): string {
  const copies = (cfg.processes ?? 1) > 1 ? [`x${cfg.processes}`] : [];
  const id = [cfg.system, cfg.pool, cfg.concurrency, ...copies, ...(cfg.extra ?? [])]
    .join('-')
    .replace(/[^\w.-]+/g, '');
  return brokerOf(cfg) === 'redis' ? id : `${id}@${brokerOf(cfg)}`;
}

/**
 * With `--baseline`, each Celeriac configuration followed by the same configuration of `celeriac-base`
 * (`selected` drops the twins when that system is not in the run), so the two run minutes apart.
 */
export function withBaseline(cfgs: readonly WorkerConfig[]): WorkerConfig[] {
  return cfgs.flatMap((c) =>
    c.system === 'celeriac' ? [c, { ...c, system: 'celeriac-base' as const }] : [c],
  );
}

/** The `celeriac-base` case id measuring the same as Celeriac's case `id`, or null for other systems. */
export function baselineTwin(id: string): string | null {
  const i = id.indexOf('/celeriac-');
  return i >= 0 && !id.startsWith('/celeriac-base-', i)
    ? `${id.slice(0, i)}/celeriac-base-${id.slice(i + '/celeriac-'.length)}`
    : null;
}

/**
 * The order of the cases in repetition `rep`: as listed, except that on even repetitions each Celeriac
 * case and its baseline twin right after it swap places, so neither always runs first.
 */
export function repOrder<T extends { id: string }>(cases: readonly T[], rep: number): T[] {
  const out = [...cases];
  if (rep % 2 === 1) return out;
  for (let i = 0; i + 1 < out.length; i++) {
    if (baselineTwin(out[i]!.id) === out[i + 1]!.id) {
      [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
      i++;
    }
  }
  return out;
}

/** Is `cfg` selected (--systems, --brokers) and can its system run on its broker? */
export function selected(ctx: BenchContext, cfg: WorkerConfig): boolean {
  const b = brokerOf(cfg);
  return ctx.systems.has(cfg.system) && ctx.brokers.has(b) && SYSTEMS[cfg.system].brokers.includes(b);
}

/** Where one case's tasks and results go, as the environment its worker and driver read. */
export interface Endpoint {
  broker: BrokerId;
  queue: string;
  /** BENCH_BROKER_URL and BENCH_BACKEND_URL (read by tasks.mjs, celery_app.py). */
  env: Record<string, string>;
  /** Delete what the case left: its SQLite file. (RabbitMQ queues are deleted by the drivers' purge.) */
  remove(): void;
}

/**
 * The endpoint of `queue` on `broker`: a function of the queue name, so every step of a case (enqueue,
 * worker, wait, purge) finds the same one. SQLite: one file per queue (broker and results in it, the
 * embedded default), so cases never share a file. RabbitMQ: results in Redis, the usual pairing.
 */
export function endpoint(ctx: BenchContext, broker: BrokerId, queue: string): Endpoint {
  if (broker === 'sqlite') {
    const file = join(ctx.tmp, `${queue}.db`);
    const url = `sqlite://${file}`;
    return {
      broker,
      queue,
      env: { BENCH_BROKER_URL: url, BENCH_BACKEND_URL: url },
      remove: () => {
        for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
      },
    };
  }
  const brokerUrl = broker === 'amqp' ? ctx.amqpUrl : ctx.redisUrl;
  return {
    broker,
    queue,
    env: { BENCH_BROKER_URL: brokerUrl, BENCH_BACKEND_URL: ctx.redisUrl },
    remove: () => {},
  };
}

/** Purge `ep`'s queue with `system`'s driver (which deletes it on RabbitMQ), then remove its leftovers. */
export async function cleanUp(ctx: BenchContext, system: SystemId, ep: Endpoint): Promise<void> {
  await drive(system, ['purge', '--queue', ep.queue], ep).catch((err: Error) =>
    ctx.log(`    purge ${ep.queue} failed: ${err.message}`),
  );
  ep.remove();
}

/** Run a driver command of `system` (on `ep`'s broker, else Redis) and return its JSON. */
export function drive<T = Record<string, unknown>>(
  system: SystemId,
  args: string[],
  ep?: Endpoint,
): Promise<T> {
  const spec = SYSTEMS[system].driver(args);
  return runJson<T>({ ...spec, env: { ...spec.env, ...ep?.env } });
}

/**
 * Start `cfg`'s worker on `queue` (on `cfg`'s broker), run `fn`, then whatever happened stop it, purge
 * the queue and remove the case's leftovers (`endpoint().remove()`).
 */
export async function withWorker<T>(
  ctx: BenchContext,
  cfg: WorkerConfig,
  task: TaskName,
  queue: string,
  fn: (w: WorkerHandle, ep: Endpoint) => Promise<T>,
): Promise<T> {
  const sys = SYSTEMS[cfg.system];
  const ep = endpoint(ctx, brokerOf(cfg), queue);
  let w: WorkerHandle | null = null;
  try {
    const missing = await sys.unsupported(cfg);
    if (missing) throw new Skip(missing);
    const copies = Math.max(1, cfg.processes ?? 1);
    const logPaths = Array.from({ length: copies }, (_, i) =>
      join(ctx.tmp, copies > 1 ? `${queue}.${i + 1}.log` : `${queue}.log`),
    );
    ctx.log(`    start ${configLabel(cfg)} on ${ep.broker} (log ${logPaths.join(', ')})`);
    const spec = sys.worker(cfg, queue, task);
    const specs = logPaths.map(() => ({ ...spec, env: { ...spec.env, ...ep.env } }));
    w = await startWorkers(specs, sys.ready, logPaths);
    return await fn(w, ep);
  } finally {
    await w?.stop();
    // Also when the worker never started: a workload may have loaded the queue before (no-op).
    await cleanUp(ctx, cfg.system, ep);
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
  track(child); // killed with the workers if the run is interrupted
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

/** Does case `c` run in repetition `rep`? Every case runs in the first; `once` cases only there. */
export function runsIn(c: Pick<Case, 'once'>, rep: number, allReps: boolean): boolean {
  return rep === 1 || !c.once || allReps;
}
