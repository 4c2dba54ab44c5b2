/**
 * Remote-control (pidbox) messages, as kombu's Mailbox writes and reads them (celery-wire.md §6.2, §6.3).
 * Pure: no I/O; the clock value and the time are passed in.
 *
 * Request body: `{method, arguments, destination, pattern, matcher}`, plus `ticket` and `reply_to`
 * `{exchange, routing_key}` when a reply is wanted; headers `{clock, expires}` (expires is epoch seconds,
 * 0 for none, and informational: workers do not check it); delivery_mode 2.
 * Reply body: `{<nodename>: reply}`; headers `{ticket, clock}`; delivery_mode 1.
 */
import { ProtocolError } from '../errors.js';
import type { WireMessage } from './message.js';
import { decodeBody, serializerByName } from './serialization.js';

export interface PidboxRequest {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  pattern: string | null;
  matcher: string | null;
  ticket?: string;
  reply_to?: { exchange: string; routing_key: string };
}

function encode(
  value: unknown,
  serializer: string,
  headers: Record<string, unknown>,
  mode: number,
): WireMessage {
  const s = serializerByName(serializer);
  return {
    body: s.encode(value),
    contentType: s.contentType,
    contentEncoding: s.contentEncoding,
    headers,
    properties: { delivery_mode: mode },
  };
}

/**
 * The fanout exchange remote-control requests go through, `<control_exchange>.pidbox`: not durable,
 * as kombu's Mailbox declares it (a durable one would clash with Python workers on AMQP).
 */
export function pidboxExchange(controlExchange: string) {
  return { name: `${controlExchange}.pidbox`, type: 'fanout', durable: false } as const;
}

export function buildPidboxRequest(
  req: PidboxRequest,
  o: { clock: number; expires: number; serializer?: string },
): WireMessage {
  return encode(req, o.serializer ?? 'json', { clock: o.clock, expires: o.expires }, 2);
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Decode a request; throws ProtocolError when it is not one. */
export function parsePidboxRequest(m: WireMessage, accept: readonly string[]): PidboxRequest {
  const body = decodeBody(m.body, m.contentType, accept) as Record<string, unknown> | null;
  if (!body || typeof body !== 'object' || typeof body.method !== 'string')
    throw new ProtocolError('a remote-control request needs a string `method`');
  const args = body.arguments;
  const dest = body.destination;
  const req: PidboxRequest = {
    method: body.method,
    arguments:
      args && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : {},
    destination: Array.isArray(dest) ? dest.filter((d): d is string => typeof d === 'string') : null,
    pattern: str(body.pattern),
    matcher: str(body.matcher),
  };
  const rt = body.reply_to as Record<string, unknown> | null | undefined;
  if (typeof body.ticket === 'string' && rt && typeof rt === 'object') {
    const exchange = str(rt.exchange);
    const routingKey = str(rt.routing_key);
    if (exchange !== null && routingKey !== null) {
      req.ticket = body.ticket;
      req.reply_to = { exchange, routing_key: routingKey };
    }
  }
  return req;
}

export function buildPidboxReply(
  hostname: string,
  reply: unknown,
  o: { ticket: string; clock: number; serializer?: string },
): WireMessage {
  return encode(
    { [hostname]: reply ?? null },
    o.serializer ?? 'json',
    { ticket: o.ticket, clock: o.clock },
    1,
  );
}

/** Decode a reply: its ticket, clock and `{node: reply}` body. */
export function parsePidboxReply(
  m: WireMessage,
  accept: readonly string[],
): { ticket: string | null; clock: unknown; body: Record<string, unknown> } {
  const body = decodeBody(m.body, m.contentType, accept);
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new ProtocolError('a remote-control reply must be an object {node: reply}');
  return { ticket: str(m.headers.ticket), clock: m.headers.clock, body: body as Record<string, unknown> };
}
