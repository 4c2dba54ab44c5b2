/**
 * kombu's JSON envelope for virtual transports (celery-wire.md §2.1). Pure: no I/O.
 *
 *   {"body": <base64>, "content-encoding": …, "content-type": …, "headers": {…},
 *    "properties": {…, "delivery_info": {"exchange", "routing_key"}, "priority", "body_encoding": "base64",
 *                   "delivery_tag": <uuid4>}}
 *
 * The delivery tag is chosen by the publisher and is the message's key in the `unacked` hash. A restored
 * message keeps its tag and gains `redelivered: true` in its headers and delivery_info.
 *
 * Bad input is read, not trusted: parseEnvelope names what is wrong, and an envelope it rejects becomes
 * an `undecodableMessage` carrying its raw text (the worker dead-letters it), with its task id when one
 * can be read. Unacked entries of such envelopes are taken apart by hand (parseUnackedEntry).
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError } from '../../errors.js';
import type { WireMessage, WireProperties } from '../../protocol/message.js';
import { intern, internField } from '../../util/intern.js';
import { type Taken, taken } from '../virtual.js';

export interface Envelope {
  body: string;
  'content-encoding': string;
  'content-type': string;
  headers: Record<string, unknown>;
  properties: WireProperties & {
    delivery_info: { exchange: string; routing_key: string; redelivered?: boolean; [k: string]: unknown };
    body_encoding?: string;
    delivery_tag: string;
  };
}

/** Properties the envelope owns; they are not copied from a WireMessage's properties. */
const ENVELOPE_PROPS = new Set(['delivery_info', 'body_encoding', 'delivery_tag', 'priority']);

export function buildEnvelope(
  message: WireMessage,
  exchange: string,
  routingKey: string,
  tag: string = randomUUID(),
): Envelope {
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message.properties)) {
    if (!ENVELOPE_PROPS.has(k) && v !== undefined) properties[k] = v;
  }
  properties.delivery_info = { exchange, routing_key: routingKey };
  properties.priority = message.properties.priority ?? 0;
  properties.body_encoding = 'base64';
  properties.delivery_tag = tag;
  return {
    body: message.body.toString('base64'),
    'content-encoding': message.contentEncoding,
    'content-type': message.contentType,
    headers: message.headers,
    properties: properties as Envelope['properties'],
  };
}

export interface ParsedEnvelope {
  tag: string;
  message: WireMessage;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Celery v2 headers whose values repeat from message to message (task name, producer, reprs). */
const REPEATED_HEADERS = ['lang', 'task', 'origin', 'argsrepr', 'kwargsrepr', 'shadow'] as const;

/**
 * The message is held for as long as its task runs: make its repeated strings shared copies (util/intern.ts)
 * and its ids that equal the task id (root_id of a root task, correlation_id) that one string, instead of
 * a copy each that JSON.parse made. Values do not change, only which copy holds them.
 */
function shareRepeated(
  headers: Record<string, unknown>,
  properties: Record<string, unknown>,
  info: Record<string, unknown>,
): void {
  for (const k of REPEATED_HEADERS) internField(headers, k);
  const id = headers.id;
  if (typeof id === 'string') {
    if (headers.root_id === id) headers.root_id = id;
    if (properties.correlation_id === id) properties.correlation_id = id;
  }
  internField(properties, 'reply_to');
  internField(info, 'exchange');
  internField(info, 'routing_key');
}

/**
 * Decode an envelope as stored in a queue list, an `unacked` entry or a fanout message. Throws a
 * ProtocolError naming what is wrong when it is not a kombu envelope we can read.
 */
export function parseEnvelope(raw: string | Envelope): ParsedEnvelope {
  let env: unknown;
  try {
    env = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch (err) {
    throw new ProtocolError(`undecodable message envelope: ${(err as Error).message}`, { cause: err });
  }
  if (!isPlainObject(env)) {
    const what = env === null ? 'null' : Array.isArray(env) ? 'an array' : `a ${typeof env}`;
    throw new ProtocolError(`message envelope is ${what}, not an object`);
  }
  if (!isPlainObject(env.properties)) throw new ProtocolError('message envelope has no properties');
  if (env.headers != null && !isPlainObject(env.headers)) {
    throw new ProtocolError('message envelope headers are not an object');
  }
  const props = env.properties;
  const encoding = props.body_encoding;
  const rawBody = env.body ?? '';
  if (typeof rawBody !== 'string') throw new ProtocolError('message envelope body is not a string');
  let body: Buffer;
  if (encoding === 'base64') body = Buffer.from(rawBody, 'base64');
  else if (!encoding || encoding === 'utf-8') body = Buffer.from(rawBody, 'utf8');
  else throw new ProtocolError(`unsupported body_encoding "${String(encoding)}"`);
  const info = (isPlainObject(props.delivery_info) ? props.delivery_info : {}) as Record<string, unknown>;
  // for…in, not Object.entries: no [key, value] array per property of every message.
  const properties: WireProperties = {};
  for (const k in props) {
    if (k !== 'body_encoding' && k !== 'delivery_tag') properties[k] = props[k];
  }
  const headers = (env.headers ?? {}) as Record<string, unknown>;
  shareRepeated(headers, properties, info);
  const ct = intern(env['content-type']);
  const ce = intern(env['content-encoding']);
  return {
    tag: typeof props.delivery_tag === 'string' ? props.delivery_tag : '',
    message: {
      body,
      contentType: typeof ct === 'string' ? ct : 'application/json',
      contentEncoding: typeof ce === 'string' ? ce : 'utf-8',
      headers,
      properties,
    },
    exchange: String(info.exchange ?? ''),
    routingKey: String(info.routing_key ?? ''),
    redelivered: headers.redelivered === true || info.redelivered === true,
  };
}

/**
 * What a consumer gets for an envelope it cannot decode (Delivery.undecodable): the raw text as the body,
 * and only the task id, name and reply properties when they can be read, so the worker can store a
 * FAILURE under that id and dead-letter the raw bytes.
 */
export function undecodableMessage(raw: string): WireMessage {
  const headers: Record<string, unknown> = {};
  const properties: WireProperties = {};
  try {
    const env = JSON.parse(raw) as unknown;
    if (isPlainObject(env)) {
      const h = env.headers;
      if (isPlainObject(h)) {
        if (typeof h.id === 'string') headers.id = h.id;
        if (typeof h.task === 'string') headers.task = h.task;
      }
      const p = env.properties;
      if (isPlainObject(p)) {
        if (typeof p.reply_to === 'string') properties.reply_to = p.reply_to;
        if (typeof p.correlation_id === 'string') properties.correlation_id = p.correlation_id;
      }
    }
  } catch {
    // Not JSON to JSON.parse (NaN, Infinity, hex numbers are JSON to Lua's cjson, and to no one else):
    // the id and name are still read where they are plain strings, so the task can get its FAILURE.
    const id = /[{,]\s*"id"\s*:\s*"([\w.:@-]{1,200})"/.exec(raw)?.[1];
    const task = /[{,]\s*"task"\s*:\s*"([\w.:@-]{1,200})"/.exec(raw)?.[1];
    if (id) headers.id = id;
    if (id && task) headers.task = task;
  }
  return {
    body: Buffer.from(raw, 'utf8'),
    contentType: 'application/octet-stream',
    contentEncoding: 'binary',
    headers,
    properties,
  };
}

/**
 * The envelope as kombu writes it back to a queue on restore: marked redelivered, and under `tag` when
 * given (a message recorded under a fresh tag keeps it, so it is not taken for a duplicate again).
 */
export function markRedelivered(raw: string | Envelope, tag?: string): string {
  const env = typeof raw === 'string' ? (JSON.parse(raw) as Envelope) : raw;
  if (!isPlainObject(env)) return JSON.stringify(env);
  if (isPlainObject(env.headers)) env.headers.redelivered = true;
  if (isPlainObject(env.properties)) {
    if (isPlainObject(env.properties.delivery_info)) env.properties.delivery_info.redelivered = true;
    if (tag) env.properties.delivery_tag = tag;
  }
  return JSON.stringify(env);
}

/**
 * The `unacked` hash value: `[envelope, exchange, routing_key]`. The take script stores an envelope it
 * could not decode as a JSON string (`raw`), and one that Lua's cjson decoded but JSON.parse rejects (NaN,
 * Infinity, hex numbers) is not valid JSON as a whole: then the envelope text is cut out of the entry, so
 * such a message is still restored (as its raw bytes) rather than left in `unacked` for ever.
 */
export function parseUnackedEntry(value: string): {
  envelope: Envelope | null;
  raw: string | null;
  exchange: string;
  routingKey: string;
} {
  try {
    const parsed = JSON.parse(value) as [unknown, unknown, unknown];
    const [env, ex, rk] = parsed;
    const route = { exchange: String(ex ?? ''), routingKey: String(rk ?? '') };
    if (typeof env === 'string') return { envelope: null, raw: env, ...route };
    return { envelope: env as Envelope, raw: null, ...route };
  } catch (err) {
    const cut = splitEntry(value);
    if (!cut) throw err;
    return { envelope: null, ...cut };
  }
}

/** `[raw,"exchange","routing_key"]` taken apart from the end (the raw part is not valid JSON). */
function splitEntry(value: string): { raw: string; exchange: string; routingKey: string } | null {
  if (!value.startsWith('[') || !value.endsWith('"]')) return null;
  // The start of the JSON string that ends just before `end` (an unescaped quote).
  const stringStart = (end: number): number => {
    for (let i = end - 1; i > 0; i--) {
      if (value[i] !== '"') continue;
      let slashes = 0;
      while (value[i - 1 - slashes] === '\\') slashes++;
      if (slashes % 2 === 0) return i;
    }
    return -1;
  };
  const rkStart = stringStart(value.length - 2);
  if (rkStart < 2 || value[rkStart - 1] !== ',' || value[rkStart - 2] !== '"') return null;
  const exStart = stringStart(rkStart - 2);
  if (exStart < 2 || value[exStart - 1] !== ',') return null;
  try {
    return {
      raw: value.slice(1, exStart - 1),
      exchange: JSON.parse(value.slice(exStart, rkStart - 1)) as string,
      routingKey: JSON.parse(value.slice(rkStart, -1)) as string,
    };
  } catch {
    return null;
  }
}

/** What to push back to a queue for an unacked entry: its raw bytes, or the envelope marked redelivered. */
export function restorable(entry: ReturnType<typeof parseUnackedEntry>, tag: string): string {
  return entry.envelope ? markRedelivered(entry.envelope, tag) : (entry.raw ?? '');
}

/**
 * A taken message, or, when its envelope cannot be decoded, its raw bytes as Delivery.undecodable; with
 * the parsed envelope (null when undecodable), so the store notes what it holds from this one parse: the
 * envelope is parsed once per message, and the message the store holds is the very object handed out.
 */
export function decodeTaken(
  tag: string,
  queue: string,
  raw: string,
): { taken: Taken; parsed: ParsedEnvelope | null } {
  try {
    const p = parseEnvelope(raw);
    return { taken: taken(tag, queue, p.message, p.redelivered), parsed: p };
  } catch (err) {
    const why = err instanceof Error ? err : new Error(String(err));
    return { taken: taken(tag, queue, undecodableMessage(raw), false, why), parsed: null };
  }
}

/** The delivery tag an envelope claims, if it can be read. */
export function parsedTag(raw: string): string | null {
  try {
    const t = (JSON.parse(raw) as { properties?: { delivery_tag?: unknown } }).properties?.delivery_tag;
    return typeof t === 'string' ? t : null;
  } catch {
    return null;
  }
}

/** The envelope text of an unacked entry (a take receipt replayed); the whole value when it cannot be split. */
export function envelopeOfEntry(value: string): string {
  try {
    const e = parseUnackedEntry(value);
    return e.envelope ? JSON.stringify(e.envelope) : (e.raw ?? value);
  } catch {
    return value;
  }
}
