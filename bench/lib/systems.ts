/**
 * The systems under test, the brokers they run on, and how to start each one's worker and driver. Every
 * system speaks the same driver commands (enqueue, wait, run, roundtrip, purge; see
 * bench/celeriac/driver.ts) and prints JSON, so a workload is written once for all of them.
 *
 * | system   | worker                                                          | client (driver)                |
 * |----------|-----------------------------------------------------------------|--------------------------------|
 * | celeriac | `node bin/celeriac.js worker -A bench/celeriac/tasks.mjs -P …` (dist/) | bench/celeriac/driver.ts (tsx) |
 * | celeriac-base | the same, in the `--baseline` ref's worktree (lib/baseline.ts), on its dist/ | its driver.ts |
 * | celery   | `/usr/bin/python3 -m celery -A celery_app worker -P …`            | bench/anchors/celery_driver.py |
 * | bullmq   | `node bench/anchors/bullmq.mjs worker --concurrency …`            | bench/anchors/bullmq.mjs       |
 *
 * | broker | broker URL                             | results                    | systems          |
 * |--------|----------------------------------------|----------------------------|------------------|
 * | redis  | BENCH_REDIS_URL                        | the same Redis             | all three        |
 * | amqp   | BENCH_AMQP_URL (RabbitMQ)              | Redis (BENCH_REDIS_URL)    | Celeriac, Celery |
 * | sqlite | `sqlite://` one file per case (tmp/)   | the same file              | Celeriac         |
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Baseline } from './baseline.js';
import { capture, type Spec } from './proc.js';

export type SystemId = 'celeriac' | 'celery' | 'bullmq' | 'celeriac-base';
/** The systems of a run without `--baseline` (`celeriac-base` exists only with one). */
export const SYSTEM_IDS: readonly SystemId[] = ['celeriac', 'celery', 'bullmq'];
/** Every system id `--systems` accepts. */
export const ALL_SYSTEM_IDS: readonly SystemId[] = [...SYSTEM_IDS, 'celeriac-base'];
export type TaskName = 'noop' | 'sleep1' | 'fetch_feed';

export type BrokerId = 'redis' | 'amqp' | 'sqlite';
export const BROKER_IDS: readonly BrokerId[] = ['redis', 'amqp', 'sqlite'];
export const BROKER_LABEL: Record<BrokerId, string> = { redis: 'Redis', amqp: 'RabbitMQ', sqlite: 'SQLite' };

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const ANCHORS = join(ROOT, 'bench', 'anchors');
const PYTHON = '/usr/bin/python3';

export interface WorkerConfig {
  system: SystemId;
  pool: string;
  concurrency: number;
  /** Extra worker flags (e.g. a prefork pool running async children). */
  extra?: string[];
  /** Where the tasks go; absent means Redis (the rows measured before brokers were a dimension). */
  broker?: BrokerId;
  /**
   * Copies of the worker the harness starts on the same queue, together one worker whose CPU and RSS
   * are summed over every process tree: for a system with no multi-process mode of its own (BullMQ).
   * `concurrency` is each copy's. Celeriac's own mode is a flag (`extra: ['--processes', 'N']`).
   */
  processes?: number;
  /**
   * Run in the first repetition only (unless `--all-reps`): a slow anchor row that no goal reads, kept
   * in the report as a single measurement so the full run fits its time.
   */
  once?: boolean;
}

/** The value of `flag` in `extra`, if given. */
function flagValue(c: WorkerConfig, flag: string): number | null {
  const i = c.extra?.indexOf(flag) ?? -1;
  return i >= 0 ? Number(c.extra![i + 1]) : null;
}

/**
 * Tasks the whole worker holds in flight at most: `-c` times the processes for Celeriac's `--processes`
 * and the harness's copies (each process has its own `-c`), the children times `--child-concurrency`
 * for a prefork pool of async children, else `-c`.
 */
export function totalConcurrency(c: WorkerConfig): number {
  const child = flagValue(c, '--child-concurrency');
  if (child !== null) return c.concurrency * child;
  return c.concurrency * (flagValue(c, '--processes') ?? 1) * Math.max(1, c.processes ?? 1);
}

export const brokerOf = (c: { broker?: BrokerId }): BrokerId => c.broker ?? 'redis';

export interface SystemDef {
  id: SystemId;
  label: string;
  /** Does the client have a batched publish (one round trip for many tasks)? */
  batch: string | null;
  /** The brokers its client and worker run on. */
  brokers: readonly BrokerId[];
  ready: RegExp;
  worker(cfg: WorkerConfig, queue: string, task: TaskName): Spec;
  driver(args: string[]): Spec;
  /** null when usable, else why not. */
  check(): Promise<string | null>;
  /** null when this build's worker takes `cfg`'s flags, else what is missing. */
  unsupported(cfg: WorkerConfig): Promise<string | null>;
  version(): Promise<string>;
}

export function configLabel(c: WorkerConfig): string {
  const sys = SYSTEMS[c.system].label;
  if (c.system === 'bullmq') {
    return (c.processes ?? 1) > 1
      ? `${sys} ${c.processes} processes × c=${c.concurrency}`
      : `${sys} c=${c.concurrency}`;
  }
  const extra = c.extra?.length ? ` ${c.extra.join(' ')}` : '';
  return c.pool === 'solo' ? `${sys} solo${extra}` : `${sys} ${c.pool} -c${c.concurrency}${extra}`;
}

const none = async () => null;

/**
 * --profile: V8 CPU profiles of the Node workers (Celeriac's and BullMQ's), written when they exit, one
 * file per process named after the worker's pid (scripts/cpuprofile-top.ts reads them).
 */
function cpuProfArgs(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

/**
 * Celeriac from the checkout at `root`: this tree (`celeriac`) or the `--baseline` ref's worktree
 * (`celeriac-base`). Both run the same command lines with cwd `root`, so `bench/celeriac/tasks.mjs`'s
 * `import 'celeriac'` (the package's self-reference) is that checkout's dist/.
 */
function celeriacAt(id: 'celeriac' | 'celeriac-base', label: string, root: () => string): SystemDef {
  let help: Promise<string> | null = null;
  return {
    id,
    label,
    batch: 'applyMany',
    brokers: BROKER_IDS,
    ready: /celeriac \S+ ready:/,
    worker: (cfg, queue) => ({
      cmd: process.execPath,
      args: [
        ...cpuProfArgs(),
        'bin/celeriac.js',
        'worker',
        '-A',
        'bench/celeriac/tasks.mjs',
        '-P',
        cfg.pool,
        '-c',
        String(cfg.concurrency),
        '-Q',
        queue,
        '-n',
        `${queue}@%h`,
        '-l',
        'warning',
        ...(cfg.extra ?? []),
      ],
      cwd: root(),
      // The compiled CLI and library, as in production (bench/run.ts builds dist/ first); never the
      // sources through tsx, whose loader would add its own memory and start-up to the measurement.
      env: { CELERIAC_CLI: 'dist' },
    }),
    // The client may load TypeScript (tsx): it is not measured for memory, and its tasks module is the
    // worker's (tasks.mjs), so both ends run the same compiled library.
    driver: (args) => ({
      cmd: process.execPath,
      args: ['--import', 'tsx', 'bench/celeriac/driver.ts', ...args],
      cwd: root(),
    }),
    /** Flags of `cfg.extra` that this build's `celeriac worker --help` does not list (features still to land). */
    unsupported: async (cfg) => {
      help ??= capture(process.execPath, ['bin/celeriac.js', 'worker', '--help'], root());
      const text = await help;
      const missing = (cfg.extra ?? []).filter((f) => f.startsWith('--') && !text.includes(f));
      return missing.length ? `this build's \`celeriac worker\` has no ${missing.join(', ')}` : null;
    },
    check: async () =>
      existsSync(join(root(), 'src/brokers/redis')) ? null : 'no Redis broker in this checkout',
    version: async () => {
      const pkg = JSON.parse(readFileSync(join(root(), 'package.json'), 'utf8')) as { version: string };
      const sha = await capture('git', ['rev-parse', '--short', 'HEAD'], root());
      return `${pkg.version}${sha ? ` (${sha})` : ''}, compiled (dist/)`;
    },
  };
}

const celeriac = celeriacAt('celeriac', 'Celeriac', () => ROOT);

let baseline: Baseline | null = null;
/** The `--baseline` worktree, once lib/baseline.ts has prepared it. */
export const currentBaseline = (): Baseline | null => baseline;

const celeriacBase = celeriacAt('celeriac-base', 'Celeriac@baseline', () => {
  if (!baseline) throw new Error('celeriac-base runs only with --baseline <git-ref>');
  return baseline.dir;
});
const baseCheck = celeriacBase.check;
celeriacBase.check = async () => (baseline ? baseCheck() : 'no --baseline <git-ref> given');

/** Point `celeriac-base` at a prepared baseline; its label becomes `Celeriac@<short sha>`. */
export function setBaseline(b: Baseline): void {
  baseline = b;
  celeriacBase.label = `Celeriac@${b.short}`;
}

const celery: SystemDef = {
  id: 'celery',
  label: 'Celery',
  batch: null, // group() still publishes one message at a time (and adds a group result)
  brokers: ['redis', 'amqp'], // kombu's SQLAlchemy transport is experimental: no peer for Celeriac's SQLite
  ready: /BENCH-READY/,
  worker: (cfg, queue) => ({
    cmd: PYTHON,
    args: [
      '-m',
      'celery',
      '-A',
      'celery_app',
      'worker',
      '-P',
      cfg.pool,
      '-c',
      String(cfg.concurrency),
      '-Q',
      queue,
      '-n',
      `${queue}@%h`,
      // Off: cluster chatter that costs start-up time and idle CPU, not throughput.
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
      '-l',
      'warning',
      ...(cfg.extra ?? []),
    ],
    cwd: ANCHORS,
    env: { PYTHONDONTWRITEBYTECODE: '1' },
  }),
  driver: (args) => ({ cmd: PYTHON, args: ['celery_driver.py', ...args], cwd: ANCHORS }),
  unsupported: none,
  check: async () =>
    (await capture(PYTHON, ['-c', 'import celery, eventlet, gevent, requests, redis; print(1)'])) === '1'
      ? null
      : 'Celery or its pools are not installed (bench/anchors/setup.sh)',
  version: async () =>
    capture(PYTHON, [
      '-c',
      'import celery, kombu, eventlet, gevent, requests; print(f"celery {celery.__version__}, kombu {kombu.__version__}, eventlet {eventlet.__version__}, gevent {gevent.__version__}, requests {requests.__version__}")',
    ]),
};

const bullmq: SystemDef = {
  id: 'bullmq',
  label: 'BullMQ',
  batch: 'addBulk',
  brokers: ['redis'],
  ready: /BENCH-READY/,
  worker: (cfg, queue, task) => ({
    cmd: process.execPath,
    args: [
      // --profile profiles BullMQ's worker too: the same task code, so the profiles compare the queues.
      ...cpuProfArgs(),
      'bullmq.mjs',
      'worker',
      '--queue',
      queue,
      '--concurrency',
      String(cfg.concurrency),
      '--task',
      task,
    ],
    cwd: ANCHORS,
  }),
  driver: (args) => ({ cmd: process.execPath, args: ['bullmq.mjs', ...args], cwd: ANCHORS }),
  unsupported: none,
  check: async () =>
    existsSync(join(ANCHORS, 'node_modules/bullmq/package.json'))
      ? null
      : 'bullmq is not installed (bench/anchors/setup.sh)',
  version: async () => {
    const pkg = (await import(join(ANCHORS, 'node_modules/bullmq/package.json'), {
      with: { type: 'json' },
    })) as { default: { version: string } };
    return `bullmq ${pkg.default.version}`;
  },
};

export const SYSTEMS: Record<SystemId, SystemDef> = {
  celeriac,
  celery,
  bullmq,
  'celeriac-base': celeriacBase,
};
