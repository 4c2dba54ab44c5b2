/**
 * The take: one TAKE script call (scripts.ts) that pops up to `max` ready messages in priority-major
 * queue order and records each in `unacked` + `unacked_index` atomically, or records the one BRPOP
 * popped together with up to max-1 more; then the decoding of its reply into deliveries, each noted as
 * held (./lease.ts). Its own module because the reply has cases of its own: items replayed from a take
 * receipt (the script was resent after a lost reply) and duplicate delivery tags recorded under a fresh
 * one, which must be recognised here so that nothing is lost or cycles.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { brokerError } from '../../drivers/redis/connection.js';
import type { BrokerKeys } from '../../drivers/redis/keys.js';
import { runScript } from '../../drivers/redis/scripts.js';
import type { Logger } from '../../util/log.js';
import type { Taken } from '../virtual.js';
import { decodeTaken, envelopeOfEntry, parsedTag } from './envelope.js';
import { heldOfTaken, type Leases, nowSeconds } from './lease.js';
import { TAKE } from './scripts.js';

/** The queues of a take, each with its list key, in the order they are served. */
export type TakeOrder = { key: string; queue: string }[];

/** What a take needs of the store: its command connection, key layout and logger. */
export interface TakeHost {
  readonly client: Redis;
  readonly keys: BrokerKeys;
  readonly logger: Logger;
}

/**
 * Run the TAKE script and note every message it returns as held by this store. `early` is the popped
 * message when the store handed it out already (and holds it): recorded under its own tag, it is not
 * decoded again.
 */
export async function takeNow(
  host: TakeHost,
  leases: Leases,
  order: TakeOrder,
  max: number,
  popped: [string, string] | null,
  early: Taken | null = null,
): Promise<Taken[]> {
  const keys = [
    host.keys.unacked,
    host.keys.unackedIndex,
    host.keys.takeReceipt(randomUUID()),
    ...order.map((o) => o.key),
  ];
  const poppedIdx = popped ? keys.indexOf(popped[0], 3) + 1 : 0;
  const args = [
    max,
    nowSeconds(),
    popped ? popped[1] : '',
    poppedIdx,
    randomUUID(),
    ...order.map((o) => o.queue),
  ];
  let reply: unknown;
  try {
    reply = await runScript(host.client, TAKE, keys, args);
  } catch (err) {
    throw brokerError('take from Redis', err);
  }
  const flat = reply as (number | string)[];
  const out: Taken[] = [];
  for (let i = 0; i + 3 < flat.length; i += 4) {
    const idx = Number(flat[i]);
    const entry = order[Math.abs(idx) - 4];
    const tag = String(flat[i + 1]);
    const flag = Number(flat[i + 3]);
    if (!entry) continue;
    if (early && i === 0 && idx > 0 && flag === 0 && tag === early.tag) {
      out.push(early);
      continue;
    }
    // From a receipt (the script was resent after a lost reply), the item is the whole unacked entry.
    const raw = idx < 0 ? envelopeOfEntry(String(flat[i + 2])) : String(flat[i + 2]);
    const { taken, parsed } = decodeTaken(tag, entry.queue, raw);
    if (flag === 1) {
      host.logger.log(
        'warn',
        `duplicate delivery tag ${parsedTag(raw) ?? '?'} in queue "${entry.queue}": another message holds it unacked; this one is held as ${tag}, so neither is lost`,
      );
    }
    leases.held.set(tag, heldOfTaken(entry.queue, parsed, taken));
    leases.lost.delete(tag);
    out.push(taken);
  }
  return out;
}
