/**
 * kombu's JSON envelope for virtual transports (celery-wire.md §2.1). Pure: no I/O.
 *
 *   {"body": <base64>, "content-encoding": …, "content-type": …, "headers": {…},
 *    "properties": {…, "delivery_info": {"exchange", "routing_key"}, "priority", "body_encoding": "base64",
 *                   "delivery_tag": <uuid4>}}
 *
 * The delivery tag is chosen by the publisher and is the message's key in the `unacked` hash. A restored
 * message keeps its tag and gains `redelivered: true` in its headers and delivery_info.
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError } from '../../errors.js';
import type { WireMessage, WireProperties } from '../../protocol/message.js';

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

/** Decode an envelope as stored in a queue list, an `unacked` entry or a fanout message. */
export function parseEnvelope(raw: string | Envelope): ParsedEnvelope {
  let env: Envelope;
  try {
    env = typeof raw === 'string' ? (JSON.parse(raw) as Envelope) : raw;
  } catch (err) {
    throw new ProtocolError(`undecodable message envelope: ${(err as Error).message}`, { cause: err });
  }
  if (
    typeof env !== 'object' ||
    env === null ||
    typeof env.properties !== 'object' ||
    env.properties === null
  ) {
    throw new ProtocolError('message envelope has no properties');
  }
  const props = env.properties;
  const encoding = props.body_encoding;
  const rawBody = env.body ?? '';
  let body: Buffer;
  if (encoding === 'base64') body = Buffer.from(String(rawBody), 'base64');
  else if (!encoding || encoding === 'utf-8') body = Buffer.from(String(rawBody), 'utf8');
  else throw new ProtocolError(`unsupported body_encoding "${String(encoding)}"`);
  const info = (props.delivery_info ?? {}) as Envelope['properties']['delivery_info'];
  const properties: WireProperties = {};
  for (const [k, v] of Object.entries(props)) {
    if (k !== 'body_encoding' && k !== 'delivery_tag') properties[k] = v;
  }
  const headers = (env.headers ?? {}) as Record<string, unknown>;
  return {
    tag: String(props.delivery_tag ?? ''),
    message: {
      body,
      contentType: env['content-type'] ?? 'application/json',
      contentEncoding: env['content-encoding'] ?? 'utf-8',
      headers,
      properties,
    },
    exchange: String(info.exchange ?? ''),
    routingKey: String(info.routing_key ?? ''),
    redelivered: headers.redelivered === true || info.redelivered === true,
  };
}

/** The envelope as kombu writes it back to a queue on restore: same tag, marked redelivered. */
export function markRedelivered(raw: string | Envelope): string {
  const env = typeof raw === 'string' ? (JSON.parse(raw) as Envelope) : raw;
  if (env.headers && typeof env.headers === 'object') env.headers.redelivered = true;
  if (env.properties?.delivery_info && typeof env.properties.delivery_info === 'object') {
    env.properties.delivery_info.redelivered = true;
  }
  return JSON.stringify(env);
}

/** The `unacked` hash value: `[envelope, exchange, routing_key]`. */
export function parseUnackedEntry(value: string): {
  envelope: Envelope;
  exchange: string;
  routingKey: string;
} {
  const parsed = JSON.parse(value) as [Envelope, unknown, unknown];
  return { envelope: parsed[0], exchange: String(parsed[1] ?? ''), routingKey: String(parsed[2] ?? '') };
}
