/**
 * The Redis result backend's waiting: one subscriber connection for every wait, kept in line with the
 * waiters. SUBSCRIBE a newly awaited id before reading its key, UNSUBSCRIBE ids nobody awaits any more
 * (celery/celery#3812), and after a reconnect read every waited key again (results published while the
 * subscriber was down). Its own module because it is state of its own (the subscriber connection, the
 * subscribed and unread ids, the sync loop) that storing, groups and chords (index.ts) never touch: they
 * use the command connection only.
 */
import type { Redis } from 'ioredis';
import {
  type ConnectionTuning,
  connectClient,
  loadIoredis,
  newClient,
  type RedisTarget,
} from '../../drivers/redis/connection.js';
import type { ResultKeys } from '../../drivers/redis/keys.js';
import { decodeJson } from '../../protocol/json.js';
import type { ResultMeta } from '../../protocol/result.js';
import { ResultWaiters, type WaitOptions } from '../waiters.js';

/** Channels per SUBSCRIBE/UNSUBSCRIBE/MGET command when thousands of results are outstanding. */
const BATCH = 1000;

export interface SubscriptionsOptions {
  transport: string;
  target: RedisTarget;
  tuning: ConnectionTuning;
  keys: ResultKeys;
  /** The backend's command connection (MGET of waited keys); throws when it is not connected. */
  command: () => Redis;
}

export class ResultSubscriptions {
  readonly #o: SubscriptionsOptions;
  #sub: Redis | null = null;
  #subReady: Promise<Redis> | null = null;
  /** Everyone waiting; a newly awaited id and one nobody awaits any more both resync the subscriptions. */
  readonly #waiters = new ResultWaiters({
    watch: (id) => {
      this.#unread.add(id);
      this.#scheduleSync();
    },
    unwatch: () => this.#scheduleSync(),
  });
  /** task ids whose channel the subscriber connection is subscribed to. */
  readonly #subscribed = new Set<string>();
  /**
   * Ids whose new wait has not read the key yet. Kept apart from the subscriptions: a wait that ends and
   * comes back before the next sync finds its id still subscribed, but the result may have been published
   * in between, so it must read the key all the same (a get() after a dropped wait ahead hung on that).
   */
  readonly #unread = new Set<string>();
  #syncing: Promise<void> | null = null;
  #dirty = false;
  #closed = false;

  constructor(options: SubscriptionsOptions) {
    this.#o = options;
  }

  /** Task ids with at least one waiter. */
  get waiting(): number {
    return this.#waiters.size;
  }
  /** Channels currently subscribed. */
  get subscriptions(): number {
    return this.#subscribed.size;
  }

  wait(taskId: string, options: WaitOptions): Promise<ResultMeta | null> {
    return this.#waiters.wait(taskId, options);
  }

  /**
   * No sync from now on; every wait is ended (ResultWaiters.close). Returns the subscriber connection, if
   * one was made, for the backend to quit together with its command connection.
   */
  async close(): Promise<Redis | null> {
    this.#closed = true;
    await this.#waiters.close();
    const sub = this.#sub;
    this.#sub = null;
    return sub;
  }

  #scheduleSync(): void {
    this.#dirty = true;
    if (this.#syncing || this.#closed) return;
    this.#syncing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#sync())
      .finally(() => {
        this.#syncing = null;
        if (this.#dirty && !this.#closed) this.#scheduleSync();
      });
  }

  /**
   * Bring the subscriptions in line with the waiters: SUBSCRIBE new ids first, then read their keys (a
   * result stored before the subscription is caught by the read, one stored after by the message), and
   * UNSUBSCRIBE ids nobody waits for any more, so subscriptions never pile up (celery/celery#3812).
   */
  async #sync(): Promise<void> {
    while (this.#dirty && !this.#closed) {
      this.#dirty = false;
      try {
        const sub = await this.#subscriber();
        const add = this.#waiters.ids().filter((id) => !this.#subscribed.has(id));
        for (let i = 0; i < add.length; i += BATCH) {
          const ids = add.slice(i, i + BATCH);
          await sub.subscribe(...ids.map((id) => this.#o.keys.task(id)));
          for (const id of ids) this.#subscribed.add(id);
        }
        // Subscribed first, read second: a result stored before the SUBSCRIBE is found by the read, one
        // stored after by the message.
        const read: string[] = [];
        for (const id of this.#unread) {
          if (!this.#waiters.has(id))
            this.#unread.delete(id); // that wait is over already
          else if (this.#subscribed.has(id)) {
            read.push(id);
            this.#unread.delete(id);
          }
        }
        await this.#readNow(read);
        // Not awaited: the next wait's SUBSCRIBE (a get() right after delay()) must not queue behind
        // the reply to the last one's UNSUBSCRIBE. Both go on the one subscriber connection, in order.
        const drop = [...this.#subscribed].filter((id) => !this.#waiters.has(id));
        for (let i = 0; i < drop.length; i += BATCH) {
          const ids = drop.slice(i, i + BATCH);
          for (const id of ids) this.#subscribed.delete(id);
          sub.unsubscribe(...ids.map((id) => this.#o.keys.task(id))).catch(() => {
            // Reconnecting: ioredis re-subscribes only what it still holds; a stray channel's messages
            // find no waiter and are dropped.
          });
        }
      } catch {
        // The subscriber is reconnecting; its 'ready' handler schedules the next sync.
        return;
      }
    }
  }

  /** Read the stored metas of waited ids and deliver the ready ones. */
  async #readNow(ids: string[]): Promise<void> {
    const wanted = ids.filter((id) => this.#waiters.has(id));
    for (let i = 0; i < wanted.length; i += BATCH) {
      const chunk = wanted.slice(i, i + BATCH);
      const values = await this.#o.command().mget(...chunk.map((id) => this.#o.keys.task(id)));
      for (const [j, raw] of values.entries()) {
        if (raw !== null) this.#waiters.notify(decodeJson(raw) as ResultMeta, chunk[j] as string);
      }
    }
  }

  #subscriber(): Promise<Redis> {
    this.#subReady ??= (async () => {
      const sub = newClient(
        await loadIoredis(this.#o.transport),
        this.#o.target,
        'subscriber',
        this.#o.tuning,
      );
      sub.on('message', (channel: string, message: string) => {
        const id = this.#o.keys.taskIdOf(channel);
        if (id === null) return;
        try {
          this.#waiters.notify(decodeJson(message) as ResultMeta, id);
        } catch {
          // Not a meta we can read: the waiter keeps waiting (and times out) rather than crash the process.
        }
      });
      let first = true;
      sub.on('ready', () => {
        if (first) {
          first = false;
          return;
        }
        // Reconnected: ioredis re-subscribed; results published while we were away are only in the keys.
        void this.#readNow(this.#waiters.ids()).catch(() => {});
        this.#scheduleSync();
      });
      this.#sub = sub;
      await connectClient(sub, this.#o.target, 'result backend subscriber');
      return sub;
    })().catch((err) => {
      this.#subReady = null;
      throw err;
    });
    return this.#subReady;
  }
}
