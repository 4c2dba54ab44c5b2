/**
 * Connecting a broker at start-up, as Celery's consumer does (`ensure_connected`): each failed attempt is
 * logged with the delay before the next ("Cannot connect to amqp://guest:**@host:5672//: <reason>.
 * Trying again in 2.00 seconds... (1/100)"), the delay grows 2, 4, 6 … 30 s (kombu's interval_start,
 * interval_step, interval_max), `brokerConnectionMaxRetries` bounds the attempts and
 * `brokerConnectionRetryOnStartup: false` makes the first failure final. An error no retry can fix
 * (authentication, unknown vhost, a path that cannot be created) ends it at once, and an abort (Ctrl-C
 * while connecting) ends the wait at once. Adapters' connect() makes one attempt; reconnects after an
 * outage are the adapters' own business.
 */
import { BrokerError, CeleriacError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { Broker } from './broker.js';

export interface ConnectRetry {
  /** The broker URL, shown with its password masked. */
  url: string;
  retryOnStartup: boolean;
  /** Attempts before giving up; 0 or null: forever. */
  maxRetries: number | null;
  logger?: Logger | undefined;
  signal?: AbortSignal | undefined;
  /** Delay before retry n (1-based), in seconds; kombu's 2, 4, 6 … 30 by default (tests shorten it). */
  delay?: (n: number) => number;
}

export const kombuDelay = (n: number): number => Math.min(2 * n, 30);

/** The URL as Celery prints it: the password replaced by `**`. */
export function maskedUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:**@');
}

/** A stop asked for while connecting (not an error of the broker). */
export class ConnectAborted extends CeleriacError {
  constructor() {
    super('E_ABORTED', 'stopped while connecting to the broker');
  }
}

function reasonOf(err: unknown): string {
  const msg = String((err as Error)?.message ?? err);
  return msg.replace(/[.\s]+$/, '');
}

const retryable = (err: unknown): boolean => err instanceof BrokerError && err.retryable;

/** Connect `broker`, retrying as configured; rejects with the last error, or ConnectAborted. */
export async function connectWithRetry(broker: Broker, o: ConnectRetry): Promise<void> {
  const max = o.maxRetries && o.maxRetries > 0 ? o.maxRetries : null;
  const delay = o.delay ?? kombuDelay;
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw new ConnectAborted();
    try {
      await broker.connect();
      return;
    } catch (err) {
      if (o.signal?.aborted) throw new ConnectAborted();
      const reason = reasonOf(err);
      const said = reason.startsWith('Cannot connect')
        ? reason
        : `Cannot connect to ${maskedUrl(o.url)}: ${reason}`;
      if (!retryable(err) || !o.retryOnStartup || (max !== null && attempt > max)) {
        const why = !retryable(err)
          ? ''
          : !o.retryOnStartup
            ? ' (brokerConnectionRetryOnStartup is off)'
            : ` (gave up after ${attempt} attempts: brokerConnectionMaxRetries=${max})`;
        throw new BrokerError(`${said}${why}`, { retryable: false, cause: err });
      }
      const seconds = delay(attempt);
      o.logger?.log(
        'error',
        `${said}.\nTrying again in ${seconds.toFixed(2)} seconds... (${attempt}/${max ?? '∞'})`,
      );
      await sleep(seconds * 1000, o.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', stop);
    };
    const stop = () => {
      done();
      reject(new ConnectAborted());
    };
    const t = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal?.addEventListener('abort', stop, { once: true });
  });
}
