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
   * Queue that receives messages a worker cannot run (undecodable, unknown task, over the size limit),
   * with the reason in the `x-celeriac-dead-reason` header; null drops them after logging.
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
  /** Event-loop stall, in milliseconds, that the worker reports and blames on the tasks running. @defaultValue 100 */
  workerBlockingThreshold: 100,
  /** Log level of workers started from code: 'debug' | 'info' | 'warn' | 'error'. @defaultValue 'warn' */
  workerLogLevel: 'warn' as LogLevel,
  /** Node name used in results and logs (`%h` is the host name). @defaultValue 'celeriac@%h' */
  workerHostname: 'celeriac@%h',
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

/** The zone must be one Intl knows: croner and `beat --list` resolve it through Intl too. */
function checkTimezone(zone: unknown): void {
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
