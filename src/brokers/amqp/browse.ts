/**
 * Browsing a RabbitMQ queue without consuming it (Broker.browse, for the dead-letter tooling). AMQP has
 * no peek: the messages are fetched with basic.get, unacked, on a channel of their own. `remove` acks the
 * chosen ones; `close` closes the channel, and RabbitMQ puts every message still unacked back in its
 * queue (marked redelivered), where it came from "if possible". A browser that dies meanwhile loses
 * nothing for the same reason.
 */
import type { GetMessage } from 'amqplib';
import type { AmqpLink } from '../../drivers/amqp/link.js';
import { isNotFound } from '../../drivers/amqp/link.js';
import type { QueueSnapshot } from '../broker.js';
import { wireMessage } from './message.js';

export async function browseAmqp(link: AmqpLink, queue: string, limit: number): Promise<QueueSnapshot> {
  const ch = await link.channel();
  // A missing queue closes the channel with 404: an empty snapshot, not an error.
  ch.on('error', () => {});
  const got: GetMessage[] = [];
  try {
    while (got.length < limit) {
      const m = await ch.get(queue, { noAck: false });
      if (m === false) break;
      got.push(m);
    }
  } catch (err) {
    if (!isNotFound(err)) {
      await ch.close().catch(() => {});
      throw err;
    }
  }
  return {
    messages: got.map((m) => wireMessage(m)),
    async remove(indices) {
      let n = 0;
      for (const i of indices) {
        const m = got[i];
        if (!m) continue;
        ch.ack(m);
        n++;
      }
      return n;
    },
    async close() {
      await ch.close().catch(() => {});
    },
  };
}
