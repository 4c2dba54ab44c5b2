/**
 * Browsing a Redis queue without consuming it (Broker.browse, for the dead-letter tooling): LRANGE over
 * the queue's priority buckets in the order a consumer would take them (each list is consumed from its
 * tail), and LREM of the exact envelope text to remove one. LREM by value is atomic, so a message another
 * client took meanwhile is simply not counted.
 */
import type { Redis } from 'ioredis';
import type { WireMessage } from '../../protocol/message.js';
import type { QueueSnapshot } from '../broker.js';
import { parseEnvelope, undecodableMessage } from './envelope.js';

export async function browseRedis(
  client: Redis,
  buckets: readonly string[],
  limit: number,
): Promise<QueueSnapshot> {
  const found: { key: string; raw: string; message: WireMessage }[] = [];
  for (const key of buckets) {
    if (found.length >= limit) break;
    // The oldest message is at the tail (LPUSH to publish, RPOP to take).
    const raws = await client.lrange(key, -(limit - found.length), -1);
    for (const raw of raws.reverse()) {
      let message: WireMessage;
      try {
        message = parseEnvelope(raw).message;
      } catch {
        message = undecodableMessage(raw);
      }
      found.push({ key, raw, message });
    }
  }
  return {
    messages: found.map((f) => f.message),
    async remove(indices) {
      let n = 0;
      for (const i of indices) {
        const f = found[i];
        if (f) n += Number(await client.lrem(f.key, -1, f.raw));
      }
      return n;
    },
    async close() {},
  };
}
