/**
 * Celery task messages, protocol v2 (built and parsed) and v1 (parsed, and built on request). A message is
 * transport-neutral here: properties + headers + body bytes, as on AMQP; the Redis and SQLite adapters
 * wrap it in kombu's JSON envelope. Pure: no I/O, no timers; the clock is passed in.
 *
 * Wire facts (../shared/docs/celery-wire.md §1): `timelimit` is [hard, soft]; countdown is turned into an
 * absolute `eta` by the client; `expires` also sets the AMQP `expiration` property in milliseconds;
 * `reply_to` and `correlation_id` are always set; body v2 is `[args, kwargs, embed]`.
 */
import { ProtocolError } from '../errors.js';
import { parseIsoDate, toIsoUtc } from './json.js';
import { argsRepr, kwargsRepr } from './repr.js';
import { compress, compressionHeader, decodeBody, decompress, serializerByName } from './serialization.js';

/** Property names are AMQP's/kombu's (snake_case), so adapters map them one to one. */
export interface WireProperties {
  correlation_id?: string;
  reply_to?: string;
  delivery_mode?: number;
  priority?: number;
  expiration?: string;
  [key: string]: unknown;
}

export interface WireMessage {
  body: Buffer;
  contentType: string;
  contentEncoding: string;
  headers: Record<string, unknown>;
  properties: WireProperties;
}

/** A canvas signature as Celery serializes it. */
export interface SignatureJson {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: string | null;
  immutable: boolean;
  [key: string]: unknown;
}

export interface Embed {
  callbacks: SignatureJson[] | null;
  errbacks: SignatureJson[] | null;
  chain: SignatureJson[] | null;
  chord: SignatureJson | null;
}

export type TimeLimit = [hard: number | null, soft: number | null];

export interface TaskMessageSpec {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  origin: string;
  replyTo: string;
  eta?: Date | null;
  expires?: Date | null;
  retries?: number;
  timeLimit?: TimeLimit;
  rootId?: string | null;
  parentId?: string | null;
  group?: string | null;
  groupIndex?: number | null;
  shadow?: string | null;
  priority?: number | null;
  ignoreResult?: boolean;
  embed?: Partial<Embed>;
  serializer?: string;
  compression?: string | null;
  protocol?: 1 | 2;
  /** The publish time, for the `expiration` property. */
  now: Date;
}

/** A task message as the worker understands it, whichever protocol it came in. */
export interface TaskRequest {
  protocol: 1 | 2;
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: Embed;
  retries: number;
  eta: Date | null;
  expires: Date | null;
  timeLimit: TimeLimit;
  rootId: string;
  parentId: string | null;
  group: string | null;
  groupIndex: number | null;
  origin: string | null;
  replyTo: string | null;
  correlationId: string;
  ignoreResult: boolean;
  shadow: string | null;
  argsrepr: string;
  kwargsrepr: string;
  priority: number | null;
  headers: Record<string, unknown>;
}

const EMPTY_EMBED: Embed = { callbacks: null, errbacks: null, chain: null, chord: null };

export function buildTaskMessage(spec: TaskMessageSpec): WireMessage {
  const serializer = serializerByName(spec.serializer ?? 'json');
  const timeLimit = spec.timeLimit ?? [null, null];
  const eta = spec.eta ? toIsoUtc(spec.eta) : null;
  const expires = spec.expires ? toIsoUtc(spec.expires) : null;
  const embed: Embed = { ...EMPTY_EMBED, ...spec.embed };
  let headers: Record<string, unknown>;
  let payload: unknown;
  if ((spec.protocol ?? 2) === 2) {
    headers = {
      lang: 'py',
      task: spec.name,
      id: spec.id,
      shadow: spec.shadow ?? null,
      eta,
      expires,
      group: spec.group ?? null,
      group_index: spec.groupIndex ?? null,
      retries: spec.retries ?? 0,
      timelimit: timeLimit,
      root_id: spec.rootId ?? spec.id,
      parent_id: spec.parentId ?? null,
      argsrepr: argsRepr(spec.args),
      kwargsrepr: kwargsRepr(spec.kwargs),
      origin: spec.origin,
      ignore_result: spec.ignoreResult ?? false,
    };
    payload = [spec.args, spec.kwargs, embed];
  } else {
    headers = {};
    payload = {
      task: spec.name,
      id: spec.id,
      args: spec.args,
      kwargs: spec.kwargs,
      group: spec.group ?? null,
      group_index: spec.groupIndex ?? null,
      retries: spec.retries ?? 0,
      eta,
      expires,
      utc: true,
      callbacks: embed.callbacks,
      errbacks: embed.errbacks,
      timelimit: timeLimit,
      taskset: spec.group ?? null,
      chord: embed.chord,
    };
  }
  let body = serializer.encode(payload);
  if (spec.compression) {
    const header = compressionHeader(spec.compression);
    body = compress(body, header);
    headers.compression = header;
  }
  // Key order as kombu writes them (Celery 5.2 capture): expiration comes before priority.
  const properties: WireProperties = {
    correlation_id: spec.id,
    reply_to: spec.replyTo,
    delivery_mode: 2,
  };
  if (spec.expires) {
    properties.expiration = String(Math.max(0, spec.expires.getTime() - spec.now.getTime()));
  }
  properties.priority = spec.priority ?? 0;
  return {
    body,
    contentType: serializer.contentType,
    contentEncoding: serializer.contentEncoding,
    headers,
    properties,
  };
}

export type ParseResult =
  | { ok: true; request: TaskRequest }
  | { ok: false; error: Error; id: string | null; name: string | null };

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const date = (v: unknown): Date | null => (typeof v === 'string' && v ? parseIsoDate(v) : null);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function readTimeLimit(v: unknown): TimeLimit {
  if (!Array.isArray(v)) return [null, null];
  return [num(v[0]), num(v[1])];
}

/**
 * Embedded signatures are kept as sent, malformed ones included: the worker checks them before it runs
 * the task (protocol/canvas.ts `signatureProblem`) and fails the task with the reason, rather than
 * dropping a step silently. A value that is not a list at all is a list of that one bad entry.
 */
function readSignatures(v: unknown): SignatureJson[] | null {
  if (v === null || v === undefined) return null;
  return (Array.isArray(v) ? v : [v]) as SignatureJson[];
}

function readSignature(v: unknown): SignatureJson | null {
  return v === null || v === undefined ? null : (v as SignatureJson);
}

/**
 * Parse a task message. Never throws: a message we cannot use comes back as `ok: false` with the task id
 * and name when they could be read, so the worker can store a FAILURE result under that id. A compressed
 * body is inflated to at most `maxBodyBytes` (MessageTooLarge past it).
 */
export function parseTaskMessage(
  msg: WireMessage,
  accept: readonly string[],
  maxBodyBytes = Number.POSITIVE_INFINITY,
): ParseResult {
  const h = msg.headers ?? {};
  const v2 = typeof h.task === 'string';
  const id = str(h.id);
  const name = str(h.task);
  try {
    let body = msg.body;
    const compression = str(h.compression);
    if (compression) body = decompress(body, compression, maxBodyBytes);
    const payload = decodeBody(body, msg.contentType, accept);
    return { ok: true, request: v2 ? fromV2(msg, payload) : fromV1(msg, payload) };
  } catch (error) {
    return { ok: false, error: error as Error, id, name };
  }
}

function fromV2(msg: WireMessage, payload: unknown): TaskRequest {
  const h = msg.headers;
  if (!Array.isArray(payload) || payload.length < 2) {
    throw new ProtocolError('protocol v2 body must be an array [args, kwargs, embed]');
  }
  const [args, kwargs, rawEmbed] = payload as [unknown, unknown, unknown];
  if (!Array.isArray(args)) throw new ProtocolError('protocol v2 body: args must be an array');
  if (!isObject(kwargs)) throw new ProtocolError('protocol v2 body: kwargs must be an object');
  const e = isObject(rawEmbed) ? rawEmbed : {};
  const id = str(h.id);
  if (!id) throw new ProtocolError('protocol v2 message has no "id" header');
  return {
    protocol: 2,
    id,
    name: h.task as string,
    args,
    kwargs,
    embed: {
      callbacks: readSignatures(e.callbacks),
      errbacks: readSignatures(e.errbacks),
      chain: readSignatures(e.chain),
      chord: readSignature(e.chord),
    },
    retries: num(h.retries) ?? 0,
    eta: date(h.eta),
    expires: date(h.expires),
    timeLimit: readTimeLimit(h.timelimit),
    rootId: str(h.root_id) ?? id,
    parentId: str(h.parent_id),
    group: str(h.group),
    groupIndex: num(h.group_index),
    origin: str(h.origin),
    replyTo: str(msg.properties.reply_to),
    correlationId: str(msg.properties.correlation_id) ?? id,
    ignoreResult: h.ignore_result === true,
    shadow: str(h.shadow),
    argsrepr: str(h.argsrepr) ?? argsRepr(args),
    kwargsrepr: str(h.kwargsrepr) ?? kwargsRepr(kwargs),
    priority: num(msg.properties.priority),
    headers: h,
  };
}

function fromV1(msg: WireMessage, payload: unknown): TaskRequest {
  if (!isObject(payload) || typeof payload.task !== 'string') {
    throw new ProtocolError('message is neither protocol v2 (no "task" header) nor v1 (no "task" in body)');
  }
  const id = str(payload.id);
  if (!id) throw new ProtocolError('protocol v1 message has no "id"');
  const args = Array.isArray(payload.args) ? payload.args : [];
  const kwargs = isObject(payload.kwargs) ? payload.kwargs : {};
  const group = str(payload.taskset) ?? str(payload.group);
  return {
    protocol: 1,
    id,
    name: payload.task,
    args,
    kwargs,
    embed: {
      callbacks: readSignatures(payload.callbacks),
      errbacks: readSignatures(payload.errbacks),
      chain: null,
      chord: readSignature(payload.chord),
    },
    retries: num(payload.retries) ?? 0,
    eta: date(payload.eta),
    expires: date(payload.expires),
    timeLimit: readTimeLimit(payload.timelimit),
    rootId: id,
    parentId: null,
    group,
    groupIndex: num(payload.group_index),
    origin: null,
    replyTo: str(msg.properties.reply_to),
    correlationId: str(msg.properties.correlation_id) ?? id,
    ignoreResult: false,
    shadow: null,
    argsrepr: argsRepr(args),
    kwargsrepr: kwargsRepr(kwargs),
    priority: num(msg.properties.priority),
    headers: msg.headers,
  };
}
