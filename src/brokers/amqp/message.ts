/** WireMessage ⇄ amqplib message: AMQP properties by their kombu names, headers as typed field tables. */
import type { ConsumeMessage, Options } from 'amqplib';
import { fromFieldValue, toFieldTable } from '../../drivers/amqp/table.js';
import type { WireMessage, WireProperties } from '../../protocol/message.js';

const PROPERTY_MAP: ReadonlyArray<[keyof Options.Publish & string, string]> = [
  ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'],
  ['deliveryMode', 'delivery_mode'],
  ['priority', 'priority'],
  ['expiration', 'expiration'],
  ['messageId', 'message_id'],
  ['timestamp', 'timestamp'],
  ['type', 'type'],
  ['userId', 'user_id'],
  ['appId', 'app_id'],
];

/** WireMessage → amqplib publish options. Unknown properties are dropped, as AMQP itself would. */
export function publishOptions(m: WireMessage): Options.Publish {
  const o: Record<string, unknown> = {
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
    headers: toFieldTable(m.headers ?? {}),
  };
  for (const [ours, theirs] of PROPERTY_MAP) {
    const v = m.properties[theirs];
    if (v !== undefined && v !== null) o[ours] = ours === 'expiration' ? String(v) : v;
  }
  if (o.deliveryMode === undefined) o.deliveryMode = 2;
  return o as Options.Publish;
}

/** amqplib message → WireMessage. */
export function wireMessage(m: { content: Buffer; properties: ConsumeMessage['properties'] }): WireMessage {
  const p = m.properties as unknown as Record<string, unknown>;
  const properties: WireProperties = {};
  for (const [ours, theirs] of PROPERTY_MAP) {
    const v = p[ours];
    if (v !== undefined && v !== null) properties[theirs] = v;
  }
  return {
    body: m.content,
    contentType: (p.contentType as string | undefined) ?? '',
    contentEncoding: (p.contentEncoding as string | undefined) ?? 'binary',
    headers: (fromFieldValue(p.headers ?? {}) as Record<string, unknown>) ?? {},
    properties,
  };
}
