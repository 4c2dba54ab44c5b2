/**
 * The systems under test, the brokers they run on, and how to start each one's worker and driver. Every
 * system speaks the same driver commands (enqueue, wait, run, roundtrip, purge; see
 * bench/celeriac/driver.ts) and prints JSON, so a workload is written once for all of them.
 *
 * | system   | worker                                                          | client (driver)                |
 * |----------|-----------------------------------------------------------------|--------------------------------|
 * | celeriac | `node bin/celeriac.js worker -A bench/celeriac/tasks.mjs -P …` (dist/) | bench/celeriac/driver.ts (tsx) |
 * | celery   | `/usr/bin/python3 -m celery -A celery_app worker -P …`            | bench/anchors/celery_driver.py |
 * | bullmq   | `node bench/anchors/bullmq.mjs worker --concurrency …`            | bench/anchors/bullmq.mjs       |
 *
 * | broker | broker URL                             | results                    | systems          |
 * |--------|----------------------------------------|----------------------------|------------------|
 * | redis  | BENCH_REDIS_URL                        | the same Redis             | all three        |
 * | amqp   | BENCH_AMQP_URL (RabbitMQ)              | Redis (BENCH_REDIS_URL)    | Celeriac, Celery |
 * | sqlite | `sqlite://` one file per case (tmp/)   | the same file              | Celeriac         |
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { capture, type Spec } from './proc.js';

export type SystemId = 'celeriac' | 'celery' | 'bullmq';
export const SYSTEM_IDS: readonly SystemId[] = ['celeriac', 'celery', 'bullmq'];
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
  if (c.system === 'bullmq') return `${sys} c=${c.concurrency}`;
  const extra = c.extra?.length ? ` ${c.extra.join(' ')}` : '';
  return c.pool === 'solo' ? `${sys} solo${extra}` : `${sys} ${c.pool} -c${c.concurrency}${extra}`;
}

let celeriacHelp: Promise<string> | null = null;

/** Flags of `cfg.extra` that `celeriac worker --help` does not list (features still to land). */
async function celeriacUnsupported(cfg: WorkerConfig): Promise<string | null> {
  celeriacHelp ??= capture(process.execPath, ['bin/celeriac.js', 'worker', '--help'], ROOT);
  const help = await celeriacHelp;
  const missing = (cfg.extra ?? []).filter((f) => f.startsWith('--') && !help.includes(f));
  return missing.length ? `this build's \`celeriac worker\` has no ${missing.join(', ')}` : null;
}

const none = async () => null;

const celeriac: SystemDef = {
  id: 'celeriac',
  label: 'Celeriac',
  batch: 'applyMany',
  brokers: BROKER_IDS,
  ready: /celeriac \S+ ready:/,
  worker: (cfg, queue) => ({
    cmd: process.execPath,
    args: [
      // --profile: V8 CPU profiles of Celeriac's workers, written when they exit (open in Chrome DevTools).
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []),
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
    cwd: ROOT,
    // The compiled CLI and library, as in production (bench/run.ts builds dist/ first); never the
    // sources through tsx, whose loader would add its own memory and start-up to the measurement.
    env: { CELERIAC_CLI: 'dist' },
  }),
  // The client may load TypeScript (tsx): it is not measured for memory, and its tasks module is the
  // worker's (tasks.mjs), so both ends run the same compiled library.
  driver: (args) => ({
    cmd: process.execPath,
    args: ['--import', 'tsx', 'bench/celeriac/driver.ts', ...args],
    cwd: ROOT,
  }),
  unsupported: celeriacUnsupported,
  check: async () =>
    existsSync(join(ROOT, 'src/brokers/redis')) ? null : 'no Redis broker in this checkout',
  version: async () => {
    const pkg = (await import(join(ROOT, 'package.json'), { with: { type: 'json' } })) as {
      default: { version: string };
    };
    const sha = await capture('git', ['rev-parse', '--short', 'HEAD'], ROOT);
    return `${pkg.default.version}${sha ? ` (${sha})` : ''}, compiled (dist/)`;
  },
};

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

export const SYSTEMS: Record<SystemId, SystemDef> = { celeriac, celery, bullmq };
