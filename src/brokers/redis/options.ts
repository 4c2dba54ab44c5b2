/**
 * Transport options of the Redis broker, each declared once with its default. Names are kombu's transport
 * options in camelCase; the URL query takes kombu's snake_case spelling (`?visibility_timeout=60`).
 */

import { DEFAULT_PRIORITY_STEPS, DEFAULT_SEP } from '../../drivers/redis/keys.js';
import { ConfigError } from '../../errors.js';

export const redisBrokerDefaults = {
  /**
   * Seconds a delivery may stay unacked without its holder renewing it before any consumer on the same
   * database restores it to its queue (kombu's visibility_timeout). Celeriac consumers renew the leases of
   * every message they hold, so this is how long a *dead* consumer's messages wait, not a cap on ETAs or
   * task run time. Use the same value on every Celery and Celeriac peer of a database.
   * @defaultValue 3600
   */
  visibilityTimeout: 3600,
  /** String put in front of every key and channel, with no separator added (kombu's global_keyprefix). @defaultValue '' */
  globalKeyprefix: '',
  /** Separator of priority bucket names and binding members. @defaultValue '\x06\x16' */
  sep: DEFAULT_SEP,
  /** Priority buckets; a message goes to the largest step ≤ its priority (0–9, 0 served first). @defaultValue [0, 3, 6, 9] */
  prioritySteps: DEFAULT_PRIORITY_STEPS as readonly number[],
  /** 'round_robin' (the queue just served moves to the back) or 'priority' (always in the given order). @defaultValue 'round_robin' */
  queueOrderStrategy: 'round_robin' as 'round_robin' | 'priority',
  /** true: fanout channels start with `/{db}.`; false: no prefix; a string: that prefix. @defaultValue true */
  fanoutPrefix: true as boolean | string,
  /** Put the routing key in fanout channel names so subscribers can filter with patterns. @defaultValue true */
  fanoutPatterns: true,
  /**
   * Renew the unacked_index score of held messages so the visibility timeout never restores a message a
   * live consumer still holds (the fix for celery/celery#2599). false gives kombu's behaviour.
   * @defaultValue true
   */
  leaseRenewal: true,
  /** Seconds between lease renewals (null: visibilityTimeout / 4). @defaultValue null */
  leaseRenewInterval: null as number | null,
  /** Seconds between scans for timed-out deliveries of dead consumers (null: min(60, visibilityTimeout / 2)). @defaultValue null */
  unackedRestoreInterval: null as number | null,
  /** Most deliveries restored per scan. @defaultValue 1000 */
  unackedRestoreLimit: 1000,
  /** Seconds the restore mutex lives if its holder dies. @defaultValue 300 */
  unackedMutexExpire: 300,
  /** Seconds to wait for a TCP connection (null: 10). @defaultValue null */
  socketConnectTimeout: null as number | null,
  /** CLIENT SETNAME prefix of this process's connections (null: none). @defaultValue null */
  clientName: null as string | null,
};

export type RedisBrokerOptions = typeof redisBrokerDefaults;

export function validateBrokerOptions(o: RedisBrokerOptions): void {
  if (!(typeof o.visibilityTimeout === 'number' && o.visibilityTimeout > 0)) {
    throw new ConfigError(
      `visibilityTimeout must be a number of seconds > 0, got ${String(o.visibilityTimeout)}`,
    );
  }
  if (
    !Array.isArray(o.prioritySteps) ||
    o.prioritySteps.length === 0 ||
    o.prioritySteps.some((s) => !Number.isInteger(s))
  ) {
    throw new ConfigError('prioritySteps must be a non-empty list of integers, e.g. [0, 3, 6, 9]');
  }
  if (o.queueOrderStrategy !== 'round_robin' && o.queueOrderStrategy !== 'priority') {
    throw new ConfigError(
      `queueOrderStrategy must be 'round_robin' or 'priority', got "${String(o.queueOrderStrategy)}"`,
    );
  }
  for (const k of ['leaseRenewInterval', 'unackedRestoreInterval'] as const) {
    const v = o[k];
    if (v !== null && !(typeof v === 'number' && v > 0))
      throw new ConfigError(`${k} must be seconds > 0 or null`);
  }
}

/** Milliseconds between lease renewals and between restore scans, derived from the options. */
export function cadences(o: RedisBrokerOptions): { renewMs: number; restoreMs: number } {
  const vt = o.visibilityTimeout * 1000;
  return {
    renewMs: Math.max(100, (o.leaseRenewInterval ?? o.visibilityTimeout / 4) * 1000),
    restoreMs: Math.max(
      100,
      o.unackedRestoreInterval ? o.unackedRestoreInterval * 1000 : Math.min(60_000, vt / 2),
    ),
  };
}
