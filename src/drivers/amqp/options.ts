/**
 * amqp:// and amqps:// URLs and the AMQP transport options, each default declared once here. Shared by
 * the AMQP broker and the rpc:// result backend (which connects with the broker's URL and options).
 *
 * URL grammar (kombu's): `amqp[s]://[user[:password]@]host[:port][/vhost][?option=value&…]`
 *  - user/password default to guest/guest; port to 5672 (amqps: 5671); all percent-decoded.
 *  - vhost is the path without its first '/', percent-decoded: `amqp://h//` and `amqp://h/` and
 *    `amqp://h` are the vhost '/', `amqp://h/%2Fx` is '/x', `amqp://h/app` is 'app'.
 *  - query options are the options below, in camelCase or snake_case (`max_priority=10`); a query
 *    option overrides the same option given in code, as it is the more specific of the two.
 */
import { ConfigError } from '../../errors.js';
import { hint } from '../../util/suggest.js';

export type QueueType = 'classic' | 'quorum';

export const amqpDefaults = {
  /** AMQP heartbeat in seconds proposed to the server (the lower of both wins); 0 disables. @defaultValue 60 */
  heartbeat: 60,
  /** Seconds to wait for the TCP/TLS connection and the AMQP handshake. @defaultValue 10 */
  connectTimeout: 10,
  /** `x-max-priority` of task queues we declare (Celery's task_queue_max_priority); null: no priorities. @defaultValue null */
  maxPriority: null as number | null,
  /** Type of task queues we declare: 'classic' or 'quorum' (`x-queue-type`). @defaultValue 'classic' */
  queueType: 'classic' as QueueType,
  /**
   * basic.qos global flag. null follows Celery: global (one window shared by every queue of a consumer)
   * for classic queues, per consumer for quorum queues (which do not support global QoS). @defaultValue null
   */
  prefetchGlobal: null as boolean | null,
  /** Type of the 28 `celery_delayed_*` queues of delayed delivery (Celery 5.5's default is quorum). @defaultValue 'quorum' */
  delayedQueueType: 'quorum' as QueueType,
  /** First reconnect delay in seconds; doubles (with jitter) up to reconnectMax. @defaultValue 0.2 */
  reconnectMin: 0.2,
  /** Longest reconnect delay in seconds. @defaultValue 10 */
  reconnectMax: 10,
  /** Connection attempts before giving up (first connect and each outage); null: never give up. @defaultValue 100 */
  connectionMaxRetries: 100 as number | null,
  /** Name shown in the RabbitMQ management UI / `rabbitmqctl list_connections client_properties`. @defaultValue null (celeriac <pid>) */
  connectionName: null as string | null,
  /**
   * Wait for RabbitMQ's publisher confirm before a publish resolves (kombu's `confirm_publish`, which is
   * off by default in Celery). On: a resolved publish is on the broker, and one lost with its connection is
   * sent again. Off: a publish resolves once written to the socket, several times faster one by one
   * (RabbitMQ confirms a persistent message only after writing it to disk), and a message lost with its
   * connection or refused by the broker is only logged. @defaultValue true
   */
  confirmPublish: true,
  /** TLS options for amqps:// (passed to tls.connect: ca, cert, key, rejectUnauthorized, servername …). @defaultValue {} */
  tls: {} as Record<string, unknown>,
};

export type AmqpOptions = typeof amqpDefaults;

export interface AmqpEndpoint {
  protocol: 'amqp' | 'amqps';
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
}

const snakeToCamel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function coerce(key: keyof AmqpOptions, raw: unknown): unknown {
  const base = amqpDefaults[key];
  if (raw === null || raw === undefined) return null;
  if (key === 'queueType' || key === 'delayedQueueType') {
    if (raw !== 'classic' && raw !== 'quorum') {
      throw new ConfigError(`AMQP option ${key} must be "classic" or "quorum", not ${JSON.stringify(raw)}`);
    }
    return raw;
  }
  if (key === 'prefetchGlobal' || key === 'confirmPublish') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new ConfigError(`AMQP option ${key} must be a boolean, not ${JSON.stringify(raw)}`);
  }
  if (key === 'tls') {
    if (typeof raw !== 'object') throw new ConfigError('AMQP option tls must be an object');
    return raw;
  }
  if (key === 'connectionName') return String(raw);
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new ConfigError(`AMQP option ${key} must be a number >= 0, not ${JSON.stringify(raw)}`);
  }
  if (key === 'maxPriority' && (!Number.isInteger(n) || n < 1 || n > 255)) {
    throw new ConfigError(
      `AMQP option maxPriority must be an integer 1..255 (Celery uses 0–9, so 10), not ${n}`,
    );
  }
  return typeof base === 'number' || base === null ? n : raw;
}

/** Merge code options and URL query options over the defaults; unknown names fail with a did-you-mean. */
export function resolveAmqpOptions(
  url: URL,
  options: Record<string, unknown>,
  extraKeys: readonly string[] = [],
): AmqpOptions {
  const known = Object.keys(amqpDefaults);
  const out: Record<string, unknown> = { ...amqpDefaults, tls: {} };
  const apply = (name: string, raw: unknown, where: string) => {
    const key = snakeToCamel(name === 'x-max-priority' ? 'max_priority' : name);
    if (extraKeys.includes(key)) return;
    if (!known.includes(key)) {
      throw new ConfigError(`Unknown AMQP ${where} "${name}"${hint(key, known)}`);
    }
    out[key] = coerce(key as keyof AmqpOptions, raw);
  };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) apply(k, v, 'option');
  for (const [k, v] of url.searchParams) apply(k, v, 'URL query option');
  const o = out as AmqpOptions;
  if (o.queueType === 'quorum' && o.maxPriority !== null) {
    throw new ConfigError(
      'AMQP maxPriority cannot be used with queueType "quorum" (quorum queues have no x-max-priority)',
    );
  }
  if (o.reconnectMax < o.reconnectMin) o.reconnectMax = o.reconnectMin;
  return o;
}

export function parseEndpoint(url: URL): AmqpEndpoint {
  const protocol = url.protocol.replace(/:$/, '');
  if (protocol !== 'amqp' && protocol !== 'amqps') {
    throw new ConfigError(`Expected an amqp:// or amqps:// URL, got "${url.protocol}//"`);
  }
  if (!url.hostname) throw new ConfigError(`AMQP URL "${url.href}" has no host`);
  const path = url.pathname;
  const vhost = path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
  const port = url.port ? Number(url.port) : protocol === 'amqps' ? 5671 : 5672;
  const noCredentials = !url.username && !url.password;
  return {
    protocol,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    username: noCredentials ? 'guest' : decodeURIComponent(url.username),
    password: noCredentials ? 'guest' : decodeURIComponent(url.password),
    vhost,
  };
}

/** The URL with its password hidden (as `**`, like Celery), for logs and errors. */
export function safeUrl(url: URL): string {
  const u = new URL(url.href);
  if (u.password) u.password = '**';
  return u.href;
}
