/**
 * RedisStore: the VirtualStore primitives over kombu's Redis layout (drivers/redis/keys.ts), so Python Celery producers
 * and workers share queues with us. Responsibilities:
 *  - put: LPUSH kombu envelopes into priority buckets, and SADD the queue's binding once, as kombu does;
 *  - take: a Lua script (./take.ts) pops ready messages and records them in `unacked` + `unacked_index` atomically;
 *    only when everything is empty does it BRPOP (priority-major key order) on a blocking connection, and
 *    the popped message is recorded by the same script together with up to max-1 more;
 *  - ack/discard (one MULTI per batch), requeue (one Lua call per batch, RPUSH to the front);
 *  - leases: every message this store holds has its unacked_index score renewed periodically, so a
 *    visibility-timeout restore never takes a message from a live consumer (./lease.ts);
 *  - restore: a periodic scan that gives back deliveries whose holder stopped renewing (./restore.ts);
 *  - blocking waits: BRPOP on pooled blocking connections, woken by interrupt() (./blocking.ts);
 *  - close: every message still held goes back to the front of its queue (kombu's restore at shutdown);
 *  - bad input: every popped message is recorded, whatever it holds (scripts.ts TAKE); an envelope we
 *    cannot decode is handed out as Delivery.undecodable (the worker dead-letters and acks it), and a
 *    duplicate delivery tag gets a fresh one, with a warning, so neither cycles nor is lost;
 *  - reports go to the logger the worker sets (setLogger), never to process warnings.
 */
import type { Redis } from 'ioredis';
import {
  brokerError,
  connectClient,
  execPipeline,
  loadIoredis,
  newClient,
  quit,
  type RedisTarget,
} from '../../drivers/redis/connection.js';
import { BrokerKeys } from '../../drivers/redis/keys.js';
import { runScript } from '../../drivers/redis/scripts.js';
import type { WireMessage } from '../../protocol/message.js';
import { createLogger, type Logger } from '../../util/log.js';
import type { BrokerCapabilities, QueueSnapshot } from '../broker.js';
import type { Taken, VirtualStore } from '../virtual.js';
import { BlockingPool } from './blocking.js';
import { RedisBroadcast } from './broadcast.js';
import { browseRedis } from './browse.js';
import { buildEnvelope, parseUnackedEntry, restorable } from './envelope.js';
import { type Held, Leases } from './lease.js';
import { cadences, type RedisBrokerOptions } from './options.js';
import { PoppedRecords } from './popped.js';
import { restoreTimedOut } from './restore.js';
import { REQUEUE } from './scripts.js';

export class RedisStore implements VirtualStore {
  readonly transport: string;
  readonly capabilities: BrokerCapabilities = {
    priority: 'low-first',
    redeliversUnacked: true,
    requeueToFront: true,
    broadcast: true,
  };
  /** Events and remote control over PUB/SUB and kombu's reply lists (./broadcast.ts). */
  readonly broadcast: RedisBroadcast;
  readonly keys: BrokerKeys;
  readonly options: Readonly<RedisBrokerOptions>;
  /** Called with errors of background work (lease renewal, restore scans); logs them by default. */
  onError: (err: Error) => void = (err) => this.#logger.log('error', `Redis broker: ${err.message}`);
  /** Called with tags whose lease was lost: another consumer restored them (we were cut off too long). */
  onLeaseLost: ((tags: string[]) => void) | null = null;

  readonly #target: RedisTarget;
  /** stderr until the worker sets its own (setLogger). */
  #logger: Logger = createLogger('warn');
  /** Unacked entries already reported as beyond repair (reported once, not at every scan). */
  readonly #reported = new Set<string>();
  #cmd: Redis | null = null;
  /** What this store holds unacked, and the renewal of its leases. */
  readonly #leases: Leases;
  readonly #blocking: BlockingPool;
  readonly #declared = new Set<string>();
  readonly #cycles = new Map<string, string[]>();
  readonly #idle = new Set<string>();
  #maintenance: NodeJS.Timeout | null = null;
  #lastRestore = 0;
  #maintaining = false;
  #closed = false;
  /** Messages handed out straight from BRPOP, and their record in `unacked` (./popped.ts). */
  readonly #popped: PoppedRecords;

  constructor(target: RedisTarget, options: RedisBrokerOptions, scheme = 'redis') {
    this.transport = scheme;
    this.#target = target;
    this.options = Object.freeze({ ...options });
    this.keys = new BrokerKeys({ ...options, db: target.db });
    this.broadcast = new RedisBroadcast(this);
    this.#leases = new Leases(this);
    this.#popped = new PoppedRecords(this, this.#leases);
    this.#blocking = new BlockingPool({
      transport: scheme,
      target,
      options: this.options,
      command: () => this.#cmd,
    });
  }

  /** The command connection (publishing, scripts, acks); for fanout helpers and tests. */
  get client(): Redis {
    if (!this.#cmd) throw brokerError('Redis broker', new Error('not connected: call connect() first'));
    return this.#cmd;
  }

  /** True once close() has begun (PoppedHost). */
  get closed(): boolean {
    return this.#closed;
  }

  /** VirtualStore.dropUnrecorded: an ack or discard of a message whose record was never written. */
  dropUnrecorded(tag: string): boolean {
    return this.#popped.drop(tag);
  }

  /** Number of deliveries this store holds unacked. */
  get heldCount(): number {
    return this.#leases.held.size;
  }

  get target(): Readonly<RedisTarget> {
    return this.#target;
  }

  get logger(): Logger {
    return this.#logger;
  }

  setLogger(logger: Logger): void {
    this.#logger = logger;
  }

  browse(queue: string, limit: number): Promise<QueueSnapshot> {
    return browseRedis(this.client, this.keys.buckets(queue), limit);
  }

  async connect(): Promise<void> {
    if (this.#cmd) return;
    const Ctor = await loadIoredis(this.transport);
    const cmd = newClient(Ctor, this.#target, 'command', this.options);
    await connectClient(cmd, this.#target, 'broker');
    this.#cmd = cmd;
    await this.#leases.readRunId();
  }

  /** A new connection of the given role to the same server (fanout subscribers use it). */
  async newConnection(role: 'command' | 'blocking' | 'subscriber'): Promise<Redis> {
    const c = newClient(await loadIoredis(this.transport), this.#target, role, this.options);
    await connectClient(c, this.#target, `broker ${role} connection`);
    return c;
  }

  async put(items: ReadonlyArray<{ queue: string; message: WireMessage }>): Promise<void> {
    const only = items.length === 1 ? items[0] : undefined;
    if (only && this.#declared.has(only.queue)) {
      // One message to a declared queue (the common publish): one command, no pipeline object.
      const env = JSON.stringify(buildEnvelope(only.message, '', only.queue));
      try {
        await this.client.lpush(this.keys.queue(only.queue, only.message.properties.priority), env);
      } catch (err) {
        throw brokerError('publish', err);
      }
      return;
    }
    // Many messages: one LPUSH per destination list with all its envelopes (LPUSH key v1 v2 … keeps their
    // order: v1 is served first), not one command each; a batch of 1,000 is then a few commands.
    const lists = new Map<string, string[]>();
    const undeclared = new Set<string>();
    for (const { queue, message } of items) {
      if (!this.#declared.has(queue)) undeclared.add(queue);
      const key = this.keys.queue(queue, message.properties.priority);
      let values = lists.get(key);
      if (!values) {
        values = [];
        lists.set(key, values);
      }
      // The default route publishes through the anonymous exchange with routing key = queue name.
      values.push(JSON.stringify(buildEnvelope(message, '', queue)));
    }
    const pipe = this.client.pipeline();
    // Celery declares the queue (binding `queue → queue` on exchange `queue`) before publishing, once per
    // connection; Flower and kombu's restore lookups read these sets.
    for (const queue of undeclared)
      pipe.sadd(this.keys.binding(queue), this.keys.bindingMember(queue, queue));
    for (const [key, values] of lists) pipe.lpush(key, ...values);
    await execPipeline(pipe, 'publish');
    for (const queue of undeclared) this.#declared.add(queue);
  }

  async take(queues: readonly string[], max: number, waitMs: number): Promise<Taken[]> {
    this.#startMaintenance();
    const generation = this.#blocking.generation;
    const sig = queues.join('\0');
    const order = this.keys.brpopOrder(this.#cycle(sig, queues));
    // After a wait that found nothing, go straight to BRPOP: an idle consumer costs one command per wait.
    if (!this.#idle.has(sig)) {
      const now = await this.#popped.take(sig, order, max);
      if (now.length || waitMs <= 0) return this.#served(sig, now);
    }
    // interrupt() came while the script ran: do not start a wait the caller no longer wants.
    if (waitMs <= 0 || generation !== this.#blocking.generation) return [];
    const popped = await this.#blocking.brpop(
      order.map((o) => o.key),
      waitMs,
    );
    if (!popped) {
      this.#idle.add(sig);
      return [];
    }
    this.#idle.delete(sig);
    const early = this.#popped.start(sig, order, popped);
    if (early) return this.#served(sig, [early]);
    return this.#served(sig, await this.#popped.commit(order, max, popped));
  }

  /** kombu's round_robin cycle: the queue just served moves to the back of the order. */
  #cycle(sig: string, queues: readonly string[]): string[] {
    let c = this.#cycles.get(sig);
    if (!c) {
      c = [...queues];
      this.#cycles.set(sig, c);
    }
    return c;
  }

  #served(sig: string, taken: Taken[]): Taken[] {
    const last = taken[taken.length - 1];
    const c = this.#cycles.get(sig);
    if (last && c && this.options.queueOrderStrategy === 'round_robin' && c.length > 1) {
      const i = c.indexOf(last.queue);
      if (i >= 0) c.push(...c.splice(i, 1));
    }
    return taken;
  }

  /** Wake every take() blocked in BRPOP (see ./blocking.ts). */
  interrupt(): void {
    this.#blocking.interrupt();
  }

  async ack(tags: readonly string[]): Promise<void> {
    await this.#popped.settled();
    const mine = this.#release(this.#real(tags));
    if (!mine.length) return;
    try {
      await this.client
        .multi()
        .zrem(this.keys.unackedIndex, ...mine)
        .hdel(this.keys.unacked, ...mine)
        .exec();
    } catch (err) {
      throw brokerError('ack', err);
    }
  }

  /** Rejected without requeue: kombu drops the message (no dead-lettering on Redis). */
  discard(tags: readonly string[]): Promise<void> {
    return this.ack(tags);
  }

  async requeue(tags: readonly string[]): Promise<void> {
    await this.#popped.settled();
    const real = this.#real(tags);
    const items: { tag: string; held: Held }[] = [];
    for (const tag of real) {
      const held = this.#leases.held.get(tag);
      if (held) items.push({ tag, held });
    }
    this.#release(real);
    if (!items.length) return;
    // RPUSH: the front of the queue, so a requeued message runs next. (kombu's reject(requeue=True) uses
    // LPUSH, the back; our Broker contract asks for the front, as AMQP does.)
    const keys = [this.keys.unacked, this.keys.unackedIndex];
    const args: string[] = ['RPUSH'];
    try {
      const entries = await this.client.hmget(this.keys.unacked, ...items.map((i) => i.tag));
      for (const [i, { tag, held }] of items.entries()) {
        const entry = entries[i];
        // Gone: acked, or restored by another consumer after our lease was lost. Nothing to give back.
        if (entry == null) continue;
        keys.push(this.keys.queue(held.queue, held.priority));
        args.push(tag, restorable(parseUnackedEntry(entry), tag));
      }
      if (keys.length === 2) return;
      await runScript(this.client, REQUEUE, keys, args);
    } catch (err) {
      throw brokerError('requeue', err);
    }
  }

  /** False once another consumer restored this delivery after we lost its lease. */
  isValid(tag: string): boolean {
    return !this.#leases.lost.has(this.#popped.alias.get(tag) ?? tag);
  }

  /** The tags as recorded in Redis (a fast-path delivery may have been recorded under a fresh one). */
  #real(tags: readonly string[]): readonly string[] {
    if (!this.#popped.alias.size) return tags;
    return tags.map((t) => {
      const real = this.#popped.alias.get(t);
      if (real === undefined) return t;
      this.#popped.alias.delete(t);
      return real;
    });
  }

  /** Forget tags locally; returns those still ours (a lost lease belongs to whoever took it next). */
  #release(tags: readonly string[]): string[] {
    const mine: string[] = [];
    for (const t of tags) {
      if (this.#leases.lost.delete(t)) continue;
      if (this.#leases.held.delete(t)) mine.push(t);
    }
    return mine;
  }

  async purge(queue: string): Promise<number> {
    const m = this.client.multi();
    for (const key of this.keys.buckets(queue)) m.llen(key).del(key);
    const res = await execPipeline(m, 'purge');
    return res.filter((_, i) => i % 2 === 0).reduce((n: number, v) => n + Number(v), 0);
  }

  async size(queue: string): Promise<number> {
    const p = this.client.pipeline();
    for (const key of this.keys.buckets(queue)) p.llen(key);
    const res = await execPipeline(p, 'size');
    return res.reduce((n: number, v) => n + Number(v), 0);
  }

  #startMaintenance(): void {
    if (this.#maintenance || this.#closed) return;
    const { renewMs, restoreMs } = cadences(this.options);
    const tick = Math.min(renewMs, restoreMs);
    this.#lastRestore = 0; // scan once at start, as kombu does
    this.#maintenance = setInterval(() => void this.maintain(), tick);
    this.#maintenance.unref();
    setImmediate(() => void this.maintain());
  }

  /** One round of lease renewal and (when due) restore scan. Public for tests; runs on a timer. */
  async maintain(): Promise<void> {
    if (this.#maintaining || this.#closed || this.#cmd?.status !== 'ready') return;
    this.#maintaining = true;
    try {
      if (this.options.leaseRenewal) await this.renewLeases();
      if (Date.now() - this.#lastRestore >= cadences(this.options).restoreMs) {
        this.#lastRestore = Date.now();
        await this.restoreTimedOut();
      }
    } catch (err) {
      this.onError(brokerError('Redis broker maintenance', err));
    } finally {
      this.#maintaining = false;
    }
  }

  /**
   * Refresh the unacked_index score of every delivery we hold; re-record those the server lost with its
   * data, give up those another consumer restored (./lease.ts). Public for tests; runs on a timer.
   */
  renewLeases(): Promise<void> {
    return this.#leases.renew();
  }

  /** Give back other consumers' deliveries past the visibility timeout (./restore.ts); how many. */
  restoreTimedOut(): Promise<number> {
    return restoreTimedOut(this, this.#leases.held, this.#reported);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#maintenance) clearInterval(this.#maintenance);
    this.#maintenance = null;
    this.interrupt();
    await this.broadcast.close();
    try {
      // Like kombu at shutdown: whatever we still hold goes back to the front of its queue.
      if (this.#leases.held.size && this.#cmd?.status === 'ready')
        await this.requeue([...this.#leases.held.keys()]);
    } catch (err) {
      this.onError(
        brokerError('restoring held messages at close (they come back after the visibility timeout)', err),
      );
    } finally {
      this.#closed = true;
      this.#blocking.close();
      const cmd = this.#cmd;
      this.#cmd = null;
      if (cmd) await quit(cmd);
    }
  }
}
