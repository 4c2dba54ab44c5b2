/**
 * One resolved, deeply frozen configuration per worker: the app's settings with the worker's options
 * applied over them (a worker's --time-limit is taskTimeLimit for that worker, its -l is workerLogLevel,
 * and so on), validated once when the worker is made. Everything the worker and its middleware read
 * comes from here; nothing re-resolves `option ?? setting` per task.
 */
import { hostname as osHostname } from 'node:os';
import type { Settings } from '../app/config.js';
import { ConfigError } from '../errors.js';
import { frozenCopy } from '../util/freeze.js';
import type { Logger, LogLevel } from '../util/log.js';
import { type AutoscaleOptions, validateAutoscale } from './autoscale.js';

export interface WorkerOptions {
  /** 'async' (aliases 'eventlet', 'gevent'), 'solo', 'prefork', 'threads'. @defaultValue 'async' */
  pool?: string;
  /** Pool slots. @defaultValue 100 for async, 1 for solo, the CPU count for prefork/threads */
  concurrency?: number;
  /** Queues to consume. @defaultValue [taskDefaultQueue] */
  queues?: string[];
  /** Node name; `%h` is the host name. @defaultValue workerHostname setting */
  hostname?: string;
  /** @defaultValue workerPrefetchMultiplier setting */
  prefetchMultiplier?: number;
  /** @defaultValue workerLogLevel setting */
  logLevel?: LogLevel;
  logger?: Logger;
  /** Seconds a warm stop waits for running tasks. @defaultValue workerShutdownTimeout setting */
  shutdownTimeout?: number;
  /** Worker-wide hard/soft time limits in seconds (Celery's --time-limit / --soft-time-limit). @defaultValue taskTimeLimit / taskSoftTimeLimit */
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  /** Module exporting the app, for pools that load it elsewhere (prefork, threads). */
  appModule?: string;
  /** Options of the process and thread pools (maxTasksPerChild, maxMemoryPerChild, childConcurrency). */
  poolOptions?: Record<string, unknown>;
  /** File keeping revoked ids across restarts (Celery's --statedb). @defaultValue workerStateDb setting */
  stateDb?: string | null;
  /**
   * Mixed worker: a second pool for CPU-bound work, `name[:processes]` ('prefork:2', 'threads'; the count
   * defaults to the CPU count). Tasks declared `{ pool: 'cpu' }` and messages from `cpuQueues` run there,
   * everything else in the main pool (typically `async`).
   */
  cpuPool?: string;
  /** Queues whose tasks run in the CPU pool; consumed as well when `queues` omits them. */
  cpuQueues?: string[];
  /** Size the main pool to its load: `max`/`min` children (prefork, threads) or slots (async). */
  autoscale?: AutoscaleOptions;
  /** Size the CPU pool to its load. */
  cpuAutoscale?: AutoscaleOptions;
  /** Send task events (Celery's `-E`). @defaultValue workerSendTaskEvents setting */
  taskEvents?: boolean;
  /** Send no worker-online/heartbeat/offline events (Celery's --without-heartbeat). @defaultValue !workerHeartbeat */
  withoutHeartbeat?: boolean;
  /** Seconds between heartbeats (Celery's --heartbeat-interval). @defaultValue workerHeartbeatInterval setting */
  heartbeatInterval?: number;
  /** Event-loop stall in milliseconds worth a warning; 0 turns the watch off. @defaultValue workerBlockingThreshold setting */
  blockingThreshold?: number;
  /** Mingle at start-up: sync revoked ids and the clock with running workers (false: Celery's --without-mingle). @defaultValue true */
  mingle?: boolean;
  /**
   * Where remote control reaches this worker: 'pidbox', its own mailbox on the broker; or 'parent', no
   * mailbox, only `controlHandler()` (a `--processes` child, whose parent owns the one mailbox of the
   * node and forwards the commands: src/worker/cluster/). @defaultValue 'pidbox'
   */
  controlVia?: 'pidbox' | 'parent';
  /** Accepted for Celery's --without-gossip; Celeriac workers do not gossip. @defaultValue true */
  gossip?: boolean;
}

export interface WorkerConfig {
  /** The app's settings with this worker's overrides. */
  readonly conf: Readonly<Settings>;
  /** The node name, `%h` and `%n` expanded. */
  readonly hostname: string;
  readonly queues: readonly string[];
  readonly pool: string;
  readonly concurrency: number | undefined;
  readonly cpuPool: { readonly name: string; readonly concurrency?: number } | null;
  readonly cpuQueues: readonly string[];
  readonly autoscale: Readonly<AutoscaleOptions> | null;
  readonly cpuAutoscale: Readonly<AutoscaleOptions> | null;
  readonly appModule: string | undefined;
  readonly poolOptions: Readonly<Record<string, unknown>>;
  readonly mingle: boolean;
  readonly controlVia: 'pidbox' | 'parent';
}

/** Parse `name[:count]` (the CPU pool). */
export function parsePoolSpec(spec: string): { name: string; concurrency?: number } {
  const [name = '', count] = spec.split(':');
  if (!name) throw new ConfigError(`cpuPool must look like "prefork:2" or "threads", got "${spec}"`);
  if (count === undefined) return { name };
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError(`the process count in cpuPool "${spec}" must be a positive integer`);
  return { name, concurrency: n };
}

/**
 * Celery's node_format for per-node file names: `%p` the node name, `%n` its name part, `%h` its host
 * part (`celeriac@web1`: celeriac, web1).
 */
export function nodeFormat(s: string, node: string): string {
  const at = node.indexOf('@');
  const name = at >= 0 ? node.slice(0, at) : 'celeriac';
  const host = at >= 0 ? node.slice(at + 1) : node;
  return s.replace(/%p/g, node).replace(/%n/g, name).replace(/%h/g, host);
}

function stateDb(path: string | null, node: string): string | null {
  if (path === null) return null;
  if (typeof path !== 'string' || !path) throw new ConfigError('stateDb must be a file path or null');
  return nodeFormat(path, node);
}

/** Validate the options and merge them over the app's settings; the result is deeply frozen. */
export function resolveWorkerConfig(settings: Readonly<Settings>, o: WorkerOptions): WorkerConfig {
  if (o.concurrency !== undefined && (!Number.isInteger(o.concurrency) || o.concurrency < 1))
    throw new ConfigError(`concurrency must be a positive integer, got ${o.concurrency}`);
  const cpuPool = o.cpuPool !== undefined ? parsePoolSpec(o.cpuPool) : null;
  if (o.cpuQueues?.length && !cpuPool)
    throw new ConfigError('cpuQueues needs a CPU pool: set cpuPool too (e.g. cpuPool: "prefork:2")');
  if (o.cpuAutoscale && !cpuPool)
    throw new ConfigError('cpuAutoscale needs a CPU pool: set cpuPool too (e.g. cpuPool: "prefork:2")');
  if (o.autoscale) validateAutoscale(o.autoscale);
  if (o.cpuAutoscale) validateAutoscale(o.cpuAutoscale);
  const threshold = o.blockingThreshold;
  if (threshold !== undefined && (!Number.isFinite(threshold) || threshold < 0))
    throw new ConfigError(`blockingThreshold must be a number of milliseconds >= 0, got ${threshold}`);
  if (
    o.prefetchMultiplier !== undefined &&
    (!Number.isFinite(o.prefetchMultiplier) || o.prefetchMultiplier < 0)
  )
    throw new ConfigError(`prefetchMultiplier must be a number >= 0, got ${o.prefetchMultiplier}`);

  const hb = o.heartbeatInterval;
  if (hb !== undefined && (!Number.isFinite(hb) || hb <= 0))
    throw new ConfigError(`heartbeatInterval must be a number of seconds > 0, got ${hb}`);

  const hostname = (o.hostname ?? settings.workerHostname)
    .replace(/%h/g, osHostname())
    .replace(/%n/g, 'celeriac');
  const conf: Settings = {
    ...settings,
    workerHostname: hostname,
    workerStateDb: stateDb(o.stateDb !== undefined ? o.stateDb : settings.workerStateDb, hostname),
    workerPrefetchMultiplier: o.prefetchMultiplier ?? settings.workerPrefetchMultiplier,
    workerLogLevel: o.logLevel ?? settings.workerLogLevel,
    workerShutdownTimeout: o.shutdownTimeout ?? settings.workerShutdownTimeout,
    workerBlockingThreshold: threshold ?? settings.workerBlockingThreshold,
    workerSendTaskEvents: o.taskEvents ?? settings.workerSendTaskEvents,
    workerHeartbeat: o.withoutHeartbeat === undefined ? settings.workerHeartbeat : !o.withoutHeartbeat,
    workerHeartbeatInterval: hb ?? settings.workerHeartbeatInterval,
    taskTimeLimit: o.timeLimit !== undefined ? o.timeLimit : settings.taskTimeLimit,
    taskSoftTimeLimit: o.softTimeLimit !== undefined ? o.softTimeLimit : settings.taskSoftTimeLimit,
  };
  const queues = o.queues?.length ? [...o.queues] : [settings.taskDefaultQueue];
  for (const q of o.cpuQueues ?? []) if (!queues.includes(q)) queues.push(q);
  return frozenCopy({
    conf,
    hostname,
    queues,
    pool: o.pool ?? 'async',
    concurrency: o.concurrency,
    cpuPool,
    cpuQueues: o.cpuQueues ?? [],
    autoscale: o.autoscale ?? null,
    cpuAutoscale: o.cpuAutoscale ?? null,
    appModule: o.appModule,
    poolOptions: o.poolOptions ?? {},
    mingle: o.mingle ?? true,
    controlVia: o.controlVia ?? 'pidbox',
  });
}
