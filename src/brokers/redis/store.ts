/**
 * RedisStore: the VirtualStore primitives over kombu's Redis layout (drivers/redis/keys.ts), so Python Celery producers
 * and workers share queues with us. Responsibilities:
 *  - put: LPUSH kombu envelopes into priority buckets, and SADD the queue's binding once, as kombu does;
 *  - take: a Lua script pops ready messages and records them in `unacked` + `unacked_index` atomically;
 *    only when everything is empty does it BRPOP (priority-major key order) on a blocking connection, and
 *    the popped message is recorded by the same script together with up to max-1 more;
 *  - ack/discard (one MULTI per batch), requeue (one Lua call per batch, RPUSH to the front);
 *  - leases: every message this store holds has its unacked_index score renewed periodically, so a
 *    visibility-timeout restore never takes a message from a live consumer (ETAs, long tasks; #2599);
 *  - restore: periodic scan under `unacked_mutex` that gives back deliveries whose holder stopped renewing
 *    (a dead Celeriac consumer, or a kombu consumer past the visibility timeout);
 *  - close: every message still held goes back to the front of its queue (kombu's restore at shutdown);
 *  - bad input: every popped message is recorded, whatever it holds (scripts.ts TAKE); an envelope we
 *    cannot decode is handed out as Delivery.undecodable (the worker dead-letters and acks it), and a
 *    duplicate delivery tag gets a fresh one, with a warning, so neither cycles nor is lost;
 *  - reports go to the logger the worker sets (setLogger), never to process warnings.
 */
import { randomUUID } from 'node:crypto';
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
import { RedisBroadcast } from './broadcast.js';
import { browseRedis } from './browse.js';
import {
  buildEnvelope,
  decodeTaken,
  envelopeOfEntry,
  markRedelivered,
  parsedTag,
  parseEnvelope,
  parseUnackedEntry,
  restorable,
} from './envelope.js';
import { cadences, type RedisBrokerOptions } from './options.js';
import { RECORD_AGAIN, RELEASE_MUTEX, RENEW, REQUEUE, RESTORE_STALE, TAKE } from './scripts.js';

/**
 * What we remember of a delivery we hold. Not its envelope: that is in the `unacked` hash already, and
 * keeping a copy per message was ~1 KB each of the worker's memory (10,000 in flight: ~10 MB live, twice
 * that in RSS). A requeue reads the envelopes back from the hash. `message` is the object handed to the
 * consumer (which keeps it until it settles), so holding it costs a reference, not a copy: it is what we
 * record again when the server lost the `unacked` hash (a restart without persistence).
 */
interface Held {
  queue: string;
  priority: unknown;
  message: WireMessage;
  exchange: string;
  routingKey: string;
}

/** Extra time a BRPOP may take past its own timeout before the connection is presumed dead. */
const BLOCKING_GRACE_MS = 10_000;
const RENEW_CHUNK = 1000;

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
  /** Fast-path deliveries recorded under a fresh tag (duplicate): the tag handed out → the tag in Redis. */
  readonly #alias = new Map<string, string>();
  /** Unacked entries already reported as beyond repair (reported once, not at every scan). */
  readonly #reported = new Set<string>();
  #cmd: Redis | null = null;
  readonly #idleBlocking: Redis[] = [];
  readonly #busyBlocking = new Set<Redis>();
  readonly #clientIds = new WeakMap<Redis, number>();
  readonly #interrupted = new WeakSet<Redis>();
  #interrupts = 0;
  readonly #held = new Map<string, Held>();
  readonly #lost = new Set<string>();
  readonly #declared = new Set<string>();
  readonly #cycles = new Map<string, string[]>();
  readonly #idle = new Set<string>();
  #maintenance: NodeJS.Timeout | null = null;
  #lastRestore = 0;
  #maintaining = false;
  #closed = false;
  /** The server's run_id at the last lease renewal (or at connect): a change means a restart. */
  #runId: string | null = null;
  /** The record of a message handed out straight from BRPOP, while it is on its way (see #startPopped). */
  #committing: Promise<void> | null = null;

  constructor(target: RedisTarget, options: RedisBrokerOptions, scheme = 'redis') {
    this.transport = scheme;
    this.#target = target;
    this.options = Object.freeze({ ...options });
    this.keys = new BrokerKeys({ ...options, db: target.db });
    this.broadcast = new RedisBroadcast(this);
  }

  /** The command connection (publishing, scripts, acks); for fanout helpers and tests. */
  get client(): Redis {
    if (!this.#cmd) throw brokerError('Redis broker', new Error('not connected: call connect() first'));
    return this.#cmd;
  }

  /** Number of deliveries this store holds unacked. */
  get heldCount(): number {
    return this.#held.size;
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
    this.#runId = await this.#serverRunId();
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
    const generation = this.#interrupts;
    const sig = queues.join('\0');
    const order = this.keys.brpopOrder(this.#cycle(sig, queues));
    // After a wait that found nothing, go straight to BRPOP: an idle consumer costs one command per wait.
    if (!this.#idle.has(sig)) {
      const now = await this.#takeNow(order, max, null);
      if (now.length || waitMs <= 0) return this.#served(sig, now);
    }
    // interrupt() came while the script ran: do not start a wait the caller no longer wants.
    if (waitMs <= 0 || generation !== this.#interrupts) return [];
    const popped = await this.#brpop(
      order.map((o) => o.key),
      waitMs,
    );
    if (!popped) {
      this.#idle.add(sig);
      return [];
    }
    this.#idle.delete(sig);
    const early = this.#startPopped(order, popped);
    if (early) return this.#served(sig, [early]);
    return this.#served(sig, await this.#commitPopped(order, max, popped));
  }

  /**
   * Hand out a message BRPOP popped before it is recorded in `unacked`, and record it meanwhile: an idle
   * worker then starts a task one round trip sooner (the round-trip latency is mostly such trips). Acks and
   * requeues wait for the record, so one can never reach Redis before it. Null when the envelope needs the
   * careful path (undecodable, no delivery tag): that path records or reports it before anything runs.
   */
  #startPopped(order: { key: string; queue: string }[], popped: [string, string]): Taken | null {
    const entry = order.find((o) => o.key === popped[0]);
    if (!entry) return null;
    let parsed: ReturnType<typeof parseEnvelope>;
    try {
      parsed = parseEnvelope(popped[1]);
    } catch {
      return null;
    }
    // A tag we hold already is a duplicate: the careful path records it under a fresh tag first.
    if (!parsed.tag || this.#held.has(parsed.tag)) return null;
    const tag = parsed.tag;
    this.#held.set(tag, held(entry.queue, parsed));
    this.#lost.delete(tag);
    const commit = this.#commitPopped(order, 1, popped).then(
      (taken) => {
        // Recorded under a fresh tag (another consumer's unacked entry has this one): acks and requeues,
        // which wait for this record, go to that entry.
        const real = taken[0]?.tag;
        if (real && real !== tag) {
          this.#held.delete(tag);
          this.#alias.set(tag, real);
        }
      },
      (err: unknown) => this.onError(brokerError('recording a popped message failed', err)),
    );
    const prev = this.#committing;
    const all = prev ? Promise.all([prev, commit]).then(() => {}) : commit;
    this.#committing = all;
    void all.then(() => {
      if (this.#committing === all) this.#committing = null;
    });
    return { tag: parsed.tag, queue: entry.queue, message: parsed.message, redelivered: parsed.redelivered };
  }

  /** Record a message BRPOP popped (and take up to max-1 more). It exists only in our memory until this
   * succeeds, so retry through connection trouble; on close, push it back to the front of its list. */
  async #commitPopped(
    order: { key: string; queue: string }[],
    max: number,
    popped: [string, string],
  ): Promise<Taken[]> {
    let delay = 100;
    for (;;) {
      try {
        return await this.#takeNow(order, max, popped);
      } catch (err) {
        if (this.#closed) {
          await this.client.rpush(popped[0], popped[1]).catch(() => {});
          throw err;
        }
        this.onError(brokerError('recording a popped message failed; retrying', err));
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async #takeNow(
    order: { key: string; queue: string }[],
    max: number,
    popped: [string, string] | null,
  ): Promise<Taken[]> {
    const keys = [
      this.keys.unacked,
      this.keys.unackedIndex,
      this.keys.takeReceipt(randomUUID()),
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
      reply = await runScript(this.client, TAKE, keys, args);
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
      // From a receipt (the script was resent after a lost reply), the item is the whole unacked entry.
      const raw = idx < 0 ? envelopeOfEntry(String(flat[i + 2])) : String(flat[i + 2]);
      const taken = decodeTaken(tag, entry.queue, raw);
      if (flag === 1) {
        this.#logger.log(
          'warn',
          `duplicate delivery tag ${parsedTag(raw) ?? '?'} in queue "${entry.queue}": another message holds it unacked; this one is held as ${tag}, so neither is lost`,
        );
      }
      this.#held.set(tag, heldOfRaw(entry.queue, raw, taken));
      this.#lost.delete(tag);
      out.push(taken);
    }
    return out;
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

  async #brpop(keys: string[], waitMs: number): Promise<[string, string] | null> {
    const conn = await this.#acquireBlocking();
    let watchdog: NodeJS.Timeout | undefined;
    try {
      if (!this.#clientIds.has(conn)) {
        // Sent ahead of BRPOP on the same connection, so it answers before BRPOP blocks; needed to
        // CLIENT UNBLOCK this connection when the consumer is cancelled.
        void conn.client('ID').then(
          (id) => this.#clientIds.set(conn, Number(id)),
          () => {},
        );
      }
      const pop = conn.brpop(...keys, (waitMs / 1000).toFixed(3)) as Promise<[string, string] | null>;
      const timeout = new Promise<never>((_, reject) => {
        watchdog = setTimeout(() => {
          // A BRPOP that outlives its timeout by this much sits on a dead connection (no RST seen):
          // drop the connection so the loop reconnects instead of hanging (celery/celery#8030).
          conn.disconnect(true);
          reject(new Error('BRPOP overran its timeout; connection reset'));
        }, waitMs + BLOCKING_GRACE_MS);
      });
      return await Promise.race([pop, timeout]);
    } catch (err) {
      // Interrupted on purpose (cancel/close): an empty take, not an error.
      if (this.#interrupted.has(conn)) return null;
      throw brokerError('BRPOP', err);
    } finally {
      clearTimeout(watchdog);
      this.#interrupted.delete(conn);
      this.#releaseBlocking(conn);
    }
  }

  async #acquireBlocking(): Promise<Redis> {
    let conn = this.#idleBlocking.pop();
    if (!conn) {
      conn = newClient(await loadIoredis(this.transport), this.#target, 'blocking', this.options);
      const c = conn;
      // A reconnected connection has a new client id.
      c.on('close', () => this.#clientIds.delete(c));
      c.connect().catch(() => {});
    }
    this.#busyBlocking.add(conn);
    return conn;
  }

  #releaseBlocking(conn: Redis): void {
    this.#busyBlocking.delete(conn);
    if (this.#closed || conn.status === 'end') conn.disconnect();
    else this.#idleBlocking.push(conn);
  }

  /**
   * Wake every take() blocked in BRPOP: CLIENT UNBLOCK when the server is known to have it blocked,
   * otherwise (id not known yet, or BRPOP still on its way) drop that blocking connection.
   */
  interrupt(): void {
    this.#interrupts++;
    for (const conn of this.#busyBlocking) {
      this.#interrupted.add(conn);
      const id = this.#clientIds.get(conn);
      const cmd = this.#cmd;
      if (id === undefined || cmd?.status !== 'ready') {
        conn.disconnect();
        continue;
      }
      void cmd.client('UNBLOCK', id).then(
        (n) => {
          if (Number(n) === 0 && this.#busyBlocking.has(conn) && this.#interrupted.has(conn))
            conn.disconnect();
        },
        () => conn.disconnect(),
      );
    }
  }

  async ack(tags: readonly string[]): Promise<void> {
    if (this.#committing) await this.#committing;
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
    if (this.#committing) await this.#committing;
    const real = this.#real(tags);
    const items: { tag: string; held: Held }[] = [];
    for (const tag of real) {
      const held = this.#held.get(tag);
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
    return !this.#lost.has(this.#alias.get(tag) ?? tag);
  }

  /** The tags as recorded in Redis (a fast-path delivery may have been recorded under a fresh one). */
  #real(tags: readonly string[]): readonly string[] {
    if (!this.#alias.size) return tags;
    return tags.map((t) => {
      const real = this.#alias.get(t);
      if (real === undefined) return t;
      this.#alias.delete(t);
      return real;
    });
  }

  /** Forget tags locally; returns those still ours (a lost lease belongs to whoever took it next). */
  #release(tags: readonly string[]): string[] {
    const mine: string[] = [];
    for (const t of tags) {
      if (this.#lost.delete(t)) continue;
      if (this.#held.delete(t)) mine.push(t);
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
   * Refresh the unacked_index score of every delivery we hold. A delivery gone from the index was either
   * restored by another consumer (our lease ran out while we were cut off: it is theirs now) or lost with
   * the server's data (a restart without persistence, a failover to a replica that never saw it). The
   * two are told apart by the server's run_id: when it changed since the last renewal and nobody else
   * holds the delivery, the data is what went, so we still hold the message and record it again; dropping
   * it would lose it, since it is in no queue either.
   */
  async renewLeases(): Promise<void> {
    const tags = [...this.#held.keys()];
    const runId = await this.#serverRunId();
    const restarted = runId !== null && this.#runId !== null && runId !== this.#runId;
    const gone: string[] = [];
    for (let i = 0; i < tags.length; i += RENEW_CHUNK) {
      const chunk = tags.slice(i, i + RENEW_CHUNK);
      const res = (await runScript(
        this.client,
        RENEW,
        [this.keys.unackedIndex],
        [nowSeconds(), ...chunk],
      )) as string[];
      gone.push(...res);
    }
    const lost: string[] = [];
    const again: string[] = [];
    for (const t of gone) {
      // Acked meanwhile by us (already released) is fine.
      if (!this.#held.has(t)) continue;
      (restarted ? again : lost).push(t);
    }
    if (again.length) {
      const kept = await this.#recordAgain(again);
      for (const t of again) if (!kept.has(t)) lost.push(t);
      if (kept.size)
        this.onError(
          brokerError(
            `the Redis server restarted and lost its data (run_id ${this.#runId} → ${runId}): recorded the ${kept.size} message(s) this worker holds again; messages that were waiting in queues on that server are gone with it`,
            new Error([...kept].join(', ')),
          ),
        );
    }
    if (runId !== null) this.#runId = runId;
    for (const t of lost) {
      this.#held.delete(t);
      this.#lost.add(t);
    }
    if (lost.length) {
      this.onError(
        brokerError(
          `lost the lease of ${lost.length} message(s): restored to their queue by another consumer`,
          new Error(lost.join(', ')),
        ),
      );
      this.onLeaseLost?.(lost);
    }
  }

  /** Write held deliveries back into `unacked` + `unacked_index`; returns the tags recorded by us. */
  async #recordAgain(tags: string[]): Promise<Set<string>> {
    const args: string[] = [nowSeconds()];
    for (const t of tags) {
      const h = this.#held.get(t);
      if (!h) continue;
      const env = JSON.stringify(buildEnvelope(h.message, h.exchange, h.routingKey, t));
      args.push(t, `[${env},${JSON.stringify(h.exchange)},${JSON.stringify(h.routingKey)}]`);
    }
    const recorded = (await runScript(
      this.client,
      RECORD_AGAIN,
      [this.keys.unacked, this.keys.unackedIndex],
      args,
    )) as string[];
    return new Set(recorded);
  }

  /** The server's run_id (INFO server), which changes at every restart; null if it cannot be read. */
  async #serverRunId(): Promise<string | null> {
    try {
      const info = await this.client.info('server');
      return /^run_id:(\w+)/m.exec(info)?.[1] ?? null;
    } catch {
      return null;
    }
  }

  /**
   * Give back deliveries whose holder stopped renewing them for a visibility timeout. Runs under kombu's
   * `unacked_mutex` so only one consumer of the database scans at a time (kombu skips when it is held).
   * Returns how many messages were restored.
   */
  async restoreTimedOut(): Promise<number> {
    const token = randomUUID();
    const got = await this.client.set(
      this.keys.unackedMutex,
      token,
      'PX',
      this.options.unackedMutexExpire * 1000,
      'NX',
    );
    if (got !== 'OK') return 0;
    let restored = 0;
    try {
      const ceil = nowSeconds(-this.options.visibilityTimeout);
      const stale = (
        await this.client.zrangebyscore(
          this.keys.unackedIndex,
          0,
          ceil,
          'LIMIT',
          0,
          this.options.unackedRestoreLimit,
        )
      ).filter((t) => !this.#held.has(t));
      if (!stale.length) return 0;
      const values = await this.client.hmget(this.keys.unacked, ...stale);
      const bindings = new Map<string, string[]>();
      for (const [i, tag] of stale.entries()) {
        const value = values[i];
        if (value == null) {
          await this.client.zrem(this.keys.unackedIndex, tag);
          continue;
        }
        let entry: ReturnType<typeof parseUnackedEntry>;
        try {
          entry = parseUnackedEntry(value);
        } catch (err) {
          // Not written by a take script (ours or kombu's): there is no telling where it belongs.
          if (!this.#reported.has(tag)) {
            this.#reported.add(tag);
            this.onError(
              brokerError(
                `unacked entry ${tag} is not [envelope, exchange, routing_key]; left in place`,
                err,
              ),
            );
          }
          continue;
        }
        const queues = await this.#lookup(entry.exchange, entry.routingKey, bindings);
        const priority = entry.envelope?.properties?.priority;
        const dest = queues.map((q) => this.keys.queue(q, priority));
        const n = await runScript(
          this.client,
          RESTORE_STALE,
          [this.keys.unacked, this.keys.unackedIndex, ...dest],
          [tag, ceil, restorable(entry, tag)],
        );
        restored += Number(n);
      }
    } finally {
      await runScript(this.client, RELEASE_MUTEX, [this.keys.unackedMutex], [token]).catch(() => {});
    }
    return restored;
  }

  /**
   * kombu's exchange lookup for a restore: the anonymous exchange routes by queue name; a named exchange
   * by its binding set (direct match on the routing key). Where kombu would drop an unroutable message
   * (no binding, no dead-letter queue), we use the routing key as the queue name instead: Celery's routing
   * keys are queue names, and a lost task is worse than a misrouted one.
   */
  async #lookup(exchange: string, routingKey: string, cache: Map<string, string[]>): Promise<string[]> {
    if (!exchange) return [routingKey];
    let members = cache.get(exchange);
    if (!members) {
      members = await this.client.smembers(this.keys.binding(exchange));
      cache.set(exchange, members);
    }
    const queues = new Set<string>();
    for (const m of members) {
      const b = this.keys.parseBindingMember(m);
      if (b.routingKey === routingKey && b.queue) queues.add(b.queue);
    }
    return queues.size ? [...queues] : [routingKey];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#maintenance) clearInterval(this.#maintenance);
    this.#maintenance = null;
    this.interrupt();
    await this.broadcast.close();
    try {
      // Like kombu at shutdown: whatever we still hold goes back to the front of its queue.
      if (this.#held.size && this.#cmd?.status === 'ready') await this.requeue([...this.#held.keys()]);
    } catch (err) {
      this.onError(
        brokerError('restoring held messages at close (they come back after the visibility timeout)', err),
      );
    } finally {
      this.#closed = true;
      for (const c of this.#idleBlocking.splice(0)) c.disconnect();
      for (const c of this.#busyBlocking) c.disconnect();
      const cmd = this.#cmd;
      this.#cmd = null;
      if (cmd) await quit(cmd);
    }
  }
}

/** What we keep of a delivery we hold; exchange and routing key as the take script records them. */
function held(queue: string, parsed: ReturnType<typeof parseEnvelope>): Held {
  const routingKey = parsed.exchange || parsed.routingKey ? parsed.routingKey : queue;
  return {
    queue,
    priority: parsed.message.properties.priority,
    message: parsed.message,
    exchange: parsed.exchange,
    routingKey,
  };
}

/** held() for a raw envelope; an undecodable one is held as published to its queue (restored as-is). */
function heldOfRaw(queue: string, raw: string, taken: Taken): Held {
  try {
    return held(queue, parseEnvelope(raw));
  } catch {
    return { queue, priority: 0, message: taken.message, exchange: '', routingKey: queue };
  }
}

/** Epoch seconds with milliseconds, as kombu's time() scores; `offset` in seconds. */
function nowSeconds(offset = 0): string {
  return (Date.now() / 1000 + offset).toFixed(3);
}
