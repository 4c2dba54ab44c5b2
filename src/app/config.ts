/**
 * Every app setting, declared once with its default and its documentation. Names are Celery's settings
 * in camelCase and units are Celery's (seconds), so Celery's documentation carries over. The options
 * table in docs/options.md is generated from this file (`npm run docs:options`); edit here, not there.
 */
import { ConfigError } from '../errors.js';
import { frozenCopy } from '../util/freeze.js';
import type { LogLevel } from '../util/log.js';
import { hint } from '../util/suggest.js';
import type { BeatEntryInput } from './periodic.js';

export type { LogLevel };

export const settingDefaults = {
  /**
   * Broker URL: `sqlite://./celeriac.db` (embedded default), `memory://`, `redis://`, `amqp://`.
   * Falls back to the environment variable CELERIAC_BROKER_URL.
   * @defaultValue 'sqlite://./celeriac.db'
   */
  brokerUrl: 'sqlite://./celeriac.db' as string,
  /**
   * Result backend URL; same schemes as the broker plus `rpc://`. Falls back to CELERIAC_RESULT_BACKEND,
   * then to the broker URL when that scheme can store results.
   * @defaultValue null (same as the broker)
   */
  resultBackend: null as string | null,
  /**
   * Retry the broker connection while a worker or client starts (Celery's
   * broker_connection_retry_on_startup): each failed attempt is logged with its delay ("Cannot connect to
   * …: …. Trying again in 2.00 seconds... (1/100)"). false: the first failure is fatal (a worker exits
   * non-zero). Errors no retry can fix (bad credentials, unknown vhost, a bad path) are fatal either way.
   * @defaultValue true
   */
  brokerConnectionRetryOnStartup: true,
  /**
   * Connection attempts at start-up before giving up (Celery's broker_connection_max_retries); the delay
   * grows 2, 4, 6 … up to 30 seconds as kombu's. 0 or null: retry forever. @defaultValue 100
   */
  brokerConnectionMaxRetries: 100 as number | null,
  /** Transport options passed to the broker adapter (e.g. `{ visibilityTimeout: 3600 }`). @defaultValue {} */
  brokerTransportOptions: {} as Record<string, unknown>,
  /** Options passed to the result backend adapter (e.g. `{ globalKeyprefix: 'x' }`). @defaultValue {} */
  resultBackendTransportOptions: {} as Record<string, unknown>,
  /** Queue used when a task and the routes name none. @defaultValue 'celery' */
  taskDefaultQueue: 'celery',
  /** Routes: task name (or glob like 'feeds.*') to `{ queue }` or a queue name. @defaultValue {} */
  taskRoutes: {} as Record<string, string | { queue: string }>,
  /** Serializer of task messages. Only 'json' ships; others register through the serializer registry. @defaultValue 'json' */
  taskSerializer: 'json',
  /** Serializer of results. @defaultValue 'json' */
  resultSerializer: 'json',
  /** Content types a worker will decode; anything else fails the task with ContentDisallowed. @defaultValue ['json'] */
  acceptContent: ['json'] as string[],
  /** Compress task bodies: null or 'zlib'/'gzip' (both write a zlib stream labelled application/x-gzip as Celery does). @defaultValue null */
  taskCompression: null as string | null,
  /** Celery protocol version to send (1 or 2). Workers read both. @defaultValue 2 */
  taskProtocol: 2 as 1 | 2,
  /** Seconds a stored result lives (0 or null: forever). @defaultValue 86400 (1 day) */
  resultExpires: 86_400 as number | null,
  /** Store name, args, kwargs, worker, retries and queue with each result, as Celery's result_extended. @defaultValue false */
  resultExtended: false,
  /** Ack after the task ran instead of when it started. @defaultValue false */
  taskAcksLate: false,
  /** With acksLate: ack failed and timed-out tasks too (false: reject them). @defaultValue true */
  taskAcksOnFailureOrTimeout: true,
  /** With acksLate: requeue a task whose process died instead of failing it with WorkerLostError. @defaultValue false */
  taskRejectOnWorkerLost: false,
  /** Store a STARTED state when a task begins. @defaultValue false */
  taskTrackStarted: false,
  /** Do not store results of any task unless the task says otherwise. @defaultValue false */
  taskIgnoreResult: false,
  /** Hard time limit in seconds for every task (null: none). @defaultValue null */
  taskTimeLimit: null as number | null,
  /** Soft time limit in seconds for every task (null: none). @defaultValue null */
  taskSoftTimeLimit: null as number | null,
  /** Default retry delay in seconds for `retry()` without countdown. @defaultValue 180 */
  taskDefaultRetryDelay: 180,
  /** Default maximum number of retries (null: unlimited). @defaultValue 3 */
  taskMaxRetries: 3 as number | null,
  /** Default priority of published tasks (null: none sent, i.e. 0). @defaultValue null */
  taskDefaultPriority: null as number | null,
  /** Messages prefetched per pool slot: prefetch = concurrency × this (0: unlimited). @defaultValue 4 */
  workerPrefetchMultiplier: 4,
  /** Largest task message body a worker accepts, in bytes; larger ones fail with MessageTooLarge. @defaultValue 16 MiB */
  workerMessageSizeLimit: 16 * 1024 * 1024,
  /**
   * Queue that receives messages a worker cannot run (an undecodable envelope or body, an unknown task,
   * over the size limit), with the reason in the `x-celeriac-dead-reason` header, the origin queue in
   * `x-celeriac-from-queue` and the time in `x-celeriac-dead-at`; `celeriac dead-letter` lists and
   * requeues them. null drops them after logging.
   * @defaultValue 'celeriac.dead-letter'
   */
  workerDeadLetterQueue: 'celeriac.dead-letter' as string | null,
  /**
   * ETA tasks due further ahead than this many seconds go back to brokers that can delay messages
   * themselves (RabbitMQ delay queues) instead of being held unacked by the worker. @defaultValue 60
   */
  workerEtaHandoff: 60,
  /** Seconds a warm shutdown waits for running tasks before it turns cold. @defaultValue 30 */
  workerShutdownTimeout: 30,
  /** Ignore every rate limit (saves a little per task). @defaultValue false */
  workerDisableRateLimits: false,
  /** Seconds between a worker's heartbeats (the middleware `heartbeat` hook; Celery's default). @defaultValue 2 */
  workerHeartbeatInterval: 2,
  /**
   * Workers answer remote control (`celeriac inspect`/`control`, Python's `celery inspect`, Flower)
   * through their pidbox queue, on brokers that carry broadcasts (docs/monitoring.md). @defaultValue true
   */
  workerEnableRemoteControl: true,
  /** Name of the remote-control exchanges: `<this>.pidbox` and `reply.<this>.pidbox` (Celery's control_exchange). @defaultValue 'celery' */
  controlExchange: 'celery',
  /** Seconds a remote-control message waits in a queue before RabbitMQ drops it (x-message-ttl; null: forever). @defaultValue 300 */
  controlQueueTtl: 300 as number | null,
  /** Seconds an unused pidbox or reply queue lives on RabbitMQ (x-expires; null: until deleted). @defaultValue 10 */
  controlQueueExpires: 10 as number | null,
  /**
   * Send task events (task-received, -started, -succeeded, -failed, -retried, -revoked, -rejected) from
   * workers, as Celery's worker_send_task_events; the worker's `-E` turns it on, and the remote-control
   * commands enable_events / disable_events switch it while the worker runs (docs/monitoring.md).
   * @defaultValue false
   */
  workerSendTaskEvents: false,
  /**
   * Workers send worker-online, worker-heartbeat (every workerHeartbeatInterval) and worker-offline
   * events, without `-E`, as Celery does; the worker's `--without-heartbeat` turns them off. Celery has
   * this as a worker option only. @defaultValue true
   */
  workerHeartbeat: true,
  /** Clients send a task-sent event for every task they publish (Celery's task_send_sent_event). @defaultValue false */
  taskSendSentEvent: false,
  /** Exchange of the events (Celery's event_exchange). @defaultValue 'celeryev' */
  eventExchange: 'celeryev',
  /** Seconds an event waits in a receiver's queue on RabbitMQ before it is dropped (event_queue_ttl). @defaultValue 5 */
  eventQueueTtl: 5 as number | null,
  /** Seconds a receiver's queue outlives its receiver on RabbitMQ (event_queue_expires). @defaultValue 60 */
  eventQueueExpires: 60 as number | null,
  /** Event-loop stall, in milliseconds, that the worker reports and blames on the tasks running. @defaultValue 100 */
  workerBlockingThreshold: 100,
  /** Log level of workers started from code: 'debug' | 'info' | 'warn' (or 'warning') | 'error'. @defaultValue 'warn' */
  workerLogLevel: 'warn' as LogLevel,
  /** Node name used in results and logs (`%h` is the host name). @defaultValue 'celeriac@%h' */
  workerHostname: 'celeriac@%h',
  /**
   * File in which a worker keeps its revoked task ids (and Lamport clock) across restarts, as Celery's
   * worker_state_db / `--statedb` (`%n`, `%h` and `%p` expand to the node name's parts and the whole of
   * it). A JSON file of Celeriac's own, written after revokes and at shutdown; Celery's shelve files are
   * not read. null: revoked ids last as long as the worker (docs/monitoring.md).
   * @defaultValue null
   */
  workerStateDb: null as string | null,
  /**
   * Most revoked ids a worker keeps; beyond it the oldest are forgotten (Celery's REVOKES_MAX). Falls
   * back to the environment variable CELERY_WORKER_REVOKES_MAX, as Celery reads it.
   * @defaultValue 50000
   */
  workerRevokesMax: 50_000,
  /**
   * Seconds a revoked id is kept (Celery's REVOKE_EXPIRES); 0 keeps it until workerRevokesMax pushes it
   * out. Falls back to the environment variable CELERY_WORKER_REVOKE_EXPIRES.
   * @defaultValue 10800 (3 hours)
   */
  workerRevokeExpires: 10_800,
  /**
   * Seconds a beat leader's lease lasts without renewal (renewed every third of it). A leader that dies
   * is replaced within this time; slots due in that gap are sent once by the new leader (docs/beat.md).
   * @defaultValue 5
   */
  beatLeaseSeconds: 5,
  /** Longest sleep of the beat loop in seconds (Celery's beat_max_loop_interval). @defaultValue 300 */
  beatMaxLoopInterval: 300,
  /**
   * IANA time zone ('Europe/Berlin', 'America/New_York') in which beat evaluates cron schedules and
   * `beat --list` shows times, DST included (docs/beat.md). Checked with Intl when the app is created.
   * Naive ETAs inside messages are still read as UTC, as Celery's default does.
   * @defaultValue 'UTC'
   */
  timezone: 'UTC',
  /**
   * Periodic tasks run by beat, by entry name: `{ task, schedule, args?, kwargs?, options?, relative? }`
   * with `schedule` in seconds, a cron string or `crontab({...})` (Celery's beat_schedule). Give it to
   * `new Celeriac({ beatSchedule })` (the settings are frozen) or add entries with `app.periodic()`.
   * Entries are validated when beat starts. @defaultValue {}
   */
  beatSchedule: {} as Record<string, BeatEntryInput>,
};

export type Settings = typeof settingDefaults;
export type SettingsInput = Partial<Settings> & {
  /** Shorthand for brokerUrl. */
  broker?: string;
  /** Shorthand for resultBackend. */
  backend?: string | null;
};

const SHORTHANDS = new Set(['broker', 'backend']);

/** Validate user settings eagerly: an unknown key fails with a did-you-mean. */
export function resolveSettings(
  input: SettingsInput = {},
  env: NodeJS.ProcessEnv = process.env,
): Readonly<Settings> {
  const known = Object.keys(settingDefaults);
  for (const key of Object.keys(input)) {
    if (!(key in settingDefaults) && !SHORTHANDS.has(key)) {
      throw new ConfigError(`Unknown setting "${key}"${hint(key, [...known, ...SHORTHANDS])}`);
    }
  }
  const { broker, backend, ...rest } = input;
  // A copy all the way down: the defaults' arrays and objects are never shared with (or changed by) an app.
  const settings: Settings = { ...settingDefaults, ...(rest as Partial<Settings>) };
  settings.brokerUrl = broker ?? rest.brokerUrl ?? (env.CELERIAC_BROKER_URL || settingDefaults.brokerUrl);
  settings.resultBackend = backend ?? rest.resultBackend ?? (env.CELERIAC_RESULT_BACKEND || null);
  settings.workerRevokesMax = rest.workerRevokesMax ?? envNumber(env, 'CELERY_WORKER_REVOKES_MAX', 50_000);
  settings.workerRevokeExpires =
    rest.workerRevokeExpires ?? envNumber(env, 'CELERY_WORKER_REVOKE_EXPIRES', 10_800);
  if (!Number.isInteger(settings.workerRevokesMax) || settings.workerRevokesMax < 1)
    throw new ConfigError(`workerRevokesMax must be a whole number >= 1, got ${settings.workerRevokesMax}`);
  if (!Number.isFinite(settings.workerRevokeExpires) || settings.workerRevokeExpires < 0)
    throw new ConfigError(
      `workerRevokeExpires must be a number of seconds >= 0, got ${settings.workerRevokeExpires}`,
    );
  if (
    settings.workerStateDb !== null &&
    (typeof settings.workerStateDb !== 'string' || !settings.workerStateDb)
  )
    throw new ConfigError('workerStateDb must be a file path or null');
  if (!Number.isFinite(settings.workerPrefetchMultiplier) || settings.workerPrefetchMultiplier < 0) {
    throw new ConfigError('workerPrefetchMultiplier must be a number >= 0');
  }
  if (settings.taskProtocol !== 1 && settings.taskProtocol !== 2) {
    throw new ConfigError('taskProtocol must be 1 or 2');
  }
  if (!Number.isFinite(settings.workerHeartbeatInterval) || settings.workerHeartbeatInterval <= 0) {
    throw new ConfigError('workerHeartbeatInterval must be a number of seconds > 0');
  }
  for (const k of ['beatLeaseSeconds', 'beatMaxLoopInterval'] as const) {
    if (!Number.isFinite(settings[k]) || settings[k] <= 0)
      throw new ConfigError(`${k} must be a number of seconds > 0, got ${String(settings[k])}`);
  }
  checkTimezone(settings.timezone);
  const beat: unknown = settings.beatSchedule;
  if (typeof beat !== 'object' || beat === null || Array.isArray(beat)) {
    throw new ConfigError('beatSchedule must be an object of entries by name');
  }
  return frozenCopy(settings);
}

/** A number from the environment (Celery's CELERY_WORKER_REVOKES_MAX …); unset or empty: `fallback`. */
function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new ConfigError(`${name} must be a number, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The zone must be one Intl knows: croner and `beat --list` resolve it through Intl too. 'UTC', the
 * default, is one every Intl knows, so it is not looked up: the first Intl.DateTimeFormat of a process
 * faults in about 6 MB of the ICU data inside the node binary, which then counts in every worker's RSS
 * for good (a worker on UTC otherwise never touches ICU; a beat or another zone pays it when it needs it).
 */
function checkTimezone(zone: unknown): void {
  if (zone === 'UTC') return;
  if (typeof zone === 'string' && zone) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return;
    } catch {
      // fall through to the message below
    }
  }
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  throw new ConfigError(
    `timezone ${JSON.stringify(zone)} is not an IANA time zone (e.g. 'UTC', 'Europe/Berlin')${typeof zone === 'string' ? hint(zone, zones) : ''}`,
  );
}

/** Check an options object against the keys a definition owns; unknown keys fail with a did-you-mean. */
const keySets = new WeakMap<object, Set<string>>();

export function checkKeys(what: string, input: object, allowed: readonly string[]): void {
  let set = keySets.get(allowed);
  if (!set) {
    set = new Set(allowed);
    keySets.set(allowed, set);
  }
  for (const key in input) {
    if (!set.has(key)) throw new ConfigError(`Unknown ${what} "${key}"${hint(key, set)}`);
  }
}
