/**
 * Leases: what the Redis store holds unacked, and the periodic renewal that keeps it ours. Every delivery
 * we hold has its `unacked_index` score refreshed, so a visibility-timeout restore (./restore.ts) never
 * takes a message from a live consumer (ETAs, long tasks; #2599). Its own module because it owns the one
 * subtle decision of the store: when a held delivery vanished from the index, was it restored by another
 * consumer (the lease is lost: it is theirs now) or lost with the server's data (a restart without
 * persistence: we record it again, since it is in no queue either)?
 */
import type { Redis } from 'ioredis';
import { brokerError } from '../../drivers/redis/connection.js';
import type { BrokerKeys } from '../../drivers/redis/keys.js';
import { runScript } from '../../drivers/redis/scripts.js';
import type { WireMessage } from '../../protocol/message.js';
import type { Taken } from '../virtual.js';
import { buildEnvelope, type ParsedEnvelope } from './envelope.js';
import { RECORD_AGAIN, RENEW } from './scripts.js';

/**
 * What we remember of a delivery we hold. Not its envelope: that is in the `unacked` hash already, and
 * keeping a copy per message was ~1 KB each of the worker's memory (10,000 in flight: ~10 MB live, twice
 * that in RSS). A requeue reads the envelopes back from the hash. `message` is the object handed to the
 * consumer (which keeps it until it settles), so holding it costs a reference, not a copy: it is what we
 * record again when the server lost the `unacked` hash (a restart without persistence).
 */
export interface Held {
  queue: string;
  priority: unknown;
  message: WireMessage;
  exchange: string;
  routingKey: string;
}

/** What leases need of the store: its command connection, key layout and error channels. */
export interface LeaseHost {
  readonly client: Redis;
  readonly keys: BrokerKeys;
  onError(err: Error): void;
  readonly onLeaseLost: ((tags: string[]) => void) | null;
}

const RENEW_CHUNK = 1000;

export class Leases {
  /** The deliveries this store holds unacked, by delivery tag. */
  readonly held = new Map<string, Held>();
  /** Tags whose lease was lost: another consumer restored them, so they are no longer ours to settle. */
  readonly lost = new Set<string>();
  readonly #host: LeaseHost;
  /** The server's run_id at the last lease renewal (or at connect): a change means a restart. */
  #runId: string | null = null;

  constructor(host: LeaseHost) {
    this.#host = host;
  }

  /** Remember the server's run_id (at connect), the reference a later renewal compares against. */
  async readRunId(): Promise<void> {
    this.#runId = await this.#serverRunId();
  }

  /**
   * Refresh the unacked_index score of every delivery we hold. A delivery gone from the index was either
   * restored by another consumer (our lease ran out while we were cut off: it is theirs now) or lost with
   * the server's data (a restart without persistence, a failover to a replica that never saw it). The
   * two are told apart by the server's run_id: when it changed since the last renewal and nobody else
   * holds the delivery, the data is what went, so we still hold the message and record it again; dropping
   * it would lose it, since it is in no queue either.
   */
  async renew(): Promise<void> {
    const host = this.#host;
    const tags = [...this.held.keys()];
    const runId = await this.#serverRunId();
    const restarted = runId !== null && this.#runId !== null && runId !== this.#runId;
    const gone: string[] = [];
    for (let i = 0; i < tags.length; i += RENEW_CHUNK) {
      const chunk = tags.slice(i, i + RENEW_CHUNK);
      const res = (await runScript(
        host.client,
        RENEW,
        [host.keys.unackedIndex],
        [nowSeconds(), ...chunk],
      )) as string[];
      gone.push(...res);
    }
    const lost: string[] = [];
    const again: string[] = [];
    for (const t of gone) {
      // Acked meanwhile by us (already released) is fine.
      if (!this.held.has(t)) continue;
      (restarted ? again : lost).push(t);
    }
    if (again.length) {
      const kept = await this.#recordAgain(again);
      for (const t of again) if (!kept.has(t)) lost.push(t);
      if (kept.size)
        host.onError(
          brokerError(
            `the Redis server restarted and lost its data (run_id ${this.#runId} → ${runId}): recorded the ${kept.size} message(s) this worker holds again; messages that were waiting in queues on that server are gone with it`,
            new Error([...kept].join(', ')),
          ),
        );
    }
    if (runId !== null) this.#runId = runId;
    for (const t of lost) {
      this.held.delete(t);
      this.lost.add(t);
    }
    if (lost.length) {
      host.onError(
        brokerError(
          `lost the lease of ${lost.length} message(s): restored to their queue by another consumer`,
          new Error(lost.join(', ')),
        ),
      );
      host.onLeaseLost?.(lost);
    }
  }

  /** Write held deliveries back into `unacked` + `unacked_index`; returns the tags recorded by us. */
  async #recordAgain(tags: string[]): Promise<Set<string>> {
    const args: string[] = [nowSeconds()];
    for (const t of tags) {
      const h = this.held.get(t);
      if (!h) continue;
      const env = JSON.stringify(buildEnvelope(h.message, h.exchange, h.routingKey, t));
      args.push(t, `[${env},${JSON.stringify(h.exchange)},${JSON.stringify(h.routingKey)}]`);
    }
    const recorded = (await runScript(
      this.#host.client,
      RECORD_AGAIN,
      [this.#host.keys.unacked, this.#host.keys.unackedIndex],
      args,
    )) as string[];
    return new Set(recorded);
  }

  /** The server's run_id (INFO server), which changes at every restart; null if it cannot be read. */
  async #serverRunId(): Promise<string | null> {
    try {
      const info = await this.#host.client.info('server');
      return /^run_id:(\w+)/m.exec(info)?.[1] ?? null;
    } catch {
      return null;
    }
  }
}

/** What we keep of a delivery we hold; exchange and routing key as the take script records them. */
export function held(queue: string, parsed: ParsedEnvelope): Held {
  const routingKey = parsed.exchange || parsed.routingKey ? parsed.routingKey : queue;
  return {
    queue,
    priority: parsed.message.properties.priority,
    message: parsed.message,
    exchange: parsed.exchange,
    routingKey,
  };
}

/**
 * held() for a decoded take (parsed once, by decodeTaken); an undecodable one is held as published to its
 * queue (restored as-is).
 */
export function heldOfTaken(queue: string, parsed: ParsedEnvelope | null, taken: Taken): Held {
  if (parsed) return held(queue, parsed);
  return { queue, priority: 0, message: taken.message, exchange: '', routingKey: queue };
}

/** Epoch seconds with milliseconds, as kombu's time() scores; `offset` in seconds. */
export function nowSeconds(offset = 0): string {
  return (Date.now() / 1000 + offset).toFixed(3);
}
