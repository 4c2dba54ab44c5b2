/**
 * The shapes Celery's inspect replies carry, built from Celeriac's objects: a request's info
 * (celery.worker.request.Request.info), a kombu Queue as a dict (Queue.as_dict(recurse=True)) and the
 * broker section of `stats` (kombu Connection.info()). Flower and `celery inspect` read these fields by
 * name, so every key is present even when Celeriac has nothing to put there (null, as kombu would).
 */
import type { Broker } from '../../brokers/broker.js';
import type { TaskRun } from '../../middleware/middleware.js';
import { toIsoUtc } from '../../protocol/json.js';
import type { HeldRun, QueueSpec } from './target.js';

/** Celery's Request.info(safe): args/kwargs as values, or as their repr strings when `safe`. */
export function requestInfo(hostname: string, run: TaskRun, held?: HeldRun): Record<string, unknown> {
  const req = run.request;
  const props = run.delivery.message.properties;
  const di = (props.delivery_info ?? {}) as { exchange?: unknown; routing_key?: unknown };
  return {
    id: req.id,
    name: req.name,
    args: req.args,
    kwargs: req.kwargs,
    type: req.name,
    hostname,
    time_start: held?.timeStart ?? null,
    acknowledged: run.acked,
    delivery_info: {
      exchange: typeof di.exchange === 'string' ? di.exchange : '',
      routing_key: typeof di.routing_key === 'string' ? di.routing_key : run.delivery.queue,
      priority: req.priority ?? props.priority ?? 0,
      redelivered: run.delivery.redelivered,
    },
    worker_pid: held?.workerPid ?? null,
  };
}

/** `active` with `safe`: args and kwargs as the message's repr strings (never evaluated). */
export function safeInfo(info: Record<string, unknown>, run: TaskRun): Record<string, unknown> {
  return { ...info, args: run.request.argsrepr, kwargs: run.request.kwargsrepr };
}

/** Celery's `scheduled` entry: the ETA, the timer priority (6 for ETA requests in Celery), the request. */
export function scheduledInfo(hostname: string, run: TaskRun): Record<string, unknown> {
  const eta = run.request.eta;
  return { eta: eta ? toIsoUtc(eta) : null, priority: 6, request: requestInfo(hostname, run) };
}

/** kombu's Queue.as_dict(recurse=True), as `inspect active_queues` lists them. */
export function queueDict(q: QueueSpec): Record<string, unknown> {
  const o = q.options;
  const pick = (k: string, d: unknown = null) => (k in o ? o[k] : d);
  return {
    name: q.name,
    exchange: {
      name: q.exchange,
      type: q.exchangeType,
      arguments: null,
      durable: true,
      passive: false,
      auto_delete: false,
      delivery_mode: null,
      no_declare: false,
    },
    routing_key: q.routingKey,
    queue_arguments: pick('queue_arguments'),
    binding_arguments: pick('binding_arguments'),
    consumer_arguments: pick('consumer_arguments'),
    durable: pick('durable', true),
    exclusive: pick('exclusive', false),
    auto_delete: pick('auto_delete', false),
    no_ack: pick('no_ack', false),
    alias: pick('alias'),
    bindings: [],
    no_declare: pick('no_declare'),
    expires: pick('expires'),
    message_ttl: pick('message_ttl'),
    max_length: pick('max_length'),
    max_length_bytes: pick('max_length_bytes'),
    max_priority: pick('max_priority'),
  };
}

const DEFAULT_PORTS: Record<string, number> = { redis: 6379, rediss: 6379, amqp: 5672, amqps: 5671 };

/** kombu's Connection.info() for the worker's broker URL; the password is never included. */
export function brokerInfo(url: string, broker: Broker, transportOptions: Record<string, unknown>) {
  let u: URL | null = null;
  try {
    u = new URL(url);
  } catch {
    u = null;
  }
  const scheme = (u?.protocol ?? `${url.split(':')[0]}:`).replace(/:$/, '');
  const path = u ? decodeURIComponent(u.pathname.replace(/^\//, '')) : '';
  return {
    hostname: u?.hostname || (scheme === 'sqlite' ? path : 'localhost'),
    userid: u?.username ? decodeURIComponent(u.username) : null,
    virtual_host: scheme.startsWith('amqp') ? path || '/' : path || (scheme.startsWith('redis') ? '0' : ''),
    port: u?.port ? Number(u.port) : (DEFAULT_PORTS[scheme] ?? null),
    insist: false,
    ssl: scheme === 'rediss' || scheme === 'amqps',
    transport: broker.transport,
    connect_timeout: 4,
    transport_options: transportOptions,
    login_method: null,
    uri_prefix: null,
    heartbeat: 120.0,
    failover_strategy: 'round-robin',
    alternates: [],
  };
}

/** A URL with its password replaced by `**`, as Celery's humanized settings show it. */
export function maskUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1**@');
}
