/**
 * redis:// and rediss:// — the Redis result backend, in Celery's layout (celery-wire.md §4; keys in
 * ../../drivers/redis/keys.ts), so Python clients read our results and we read theirs.
 *
 * | feature          | support |
 * |------------------|---------|
 * | results          | `celery-task-meta-<id>`: SETEX (SET when expires is null) and PUBLISH on the same name, in one Lua call per batch (the results of one event-loop turn) |
 * | dedup guard      | a stored SUCCESS is never overwritten (as Celery: a lost-and-redelivered task cannot clobber it) |
 * | waiting          | pub/sub, no polling: one subscriber connection for all waits, SUBSCRIBE before GET, UNSUBSCRIBE when done |
 * | reconnect        | forever with backoff; after the subscriber reconnects every waited key is read again (results published while it was down) |
 * | groups           | `celery-taskset-meta-<gid>` = `{"result": [[gid, null], [[[id, null], null], …]]}` (GroupResult.save()) |
 * | chords           | `.j` zset (or list), `.t`, `.s` helpers, as Celery's native Redis chord counter |
 *
 * URL: `redis://[[user]:password@]host[:port][/db]`, `rediss://…?ssl_cert_reqs=required`.
 * Options (resultBackendTransportOptions, or the URL query in snake_case): see `redisBackendDefaults`.
 */
import type { Redis } from 'ioredis';
import {
  brokerError,
  connectClient,
  execPipeline,
  loadIoredis,
  newClient,
  parseRedisUrl,
  quit,
  type RedisTarget,
  resolveOptions,
} from '../../drivers/redis/connection.js';
import { ResultKeys } from '../../drivers/redis/keys.js';
import { runScript } from '../../drivers/redis/scripts.js';
import { decodeJson, encodeJson, encodePythonJson } from '../../protocol/json.js';
import type { ResultMeta } from '../../protocol/result.js';
import { Coalescer } from '../../util/coalesce.js';
import {
  type BackendCapabilities,
  type ChordPart,
  chordResults,
  groupResultTuple,
  idsFromGroupTuple,
  type ResultBackend,
  type StoreOptions,
} from '../backend.js';
import { ResultWaiters, type WaitOptions } from '../waiters.js';
import { STORE_RESULTS } from './scripts.js';

export const redisBackendDefaults = {
  /** Put in front of every key; Celery appends '_' unless it ends in one of `:_-.`. @defaultValue '' */
  globalKeyprefix: '',
  /** Keep chord part results in a zset ordered by group_index (false: a list in arrival order). @defaultValue true */
  resultChordOrdered: true,
  /** Seconds to wait for a TCP connection (null: 10). @defaultValue null */
  socketConnectTimeout: null as number | null,
  /** CLIENT SETNAME prefix of this backend's connections (null: none). @defaultValue null */
  clientName: null as string | null,
};
export type RedisBackendOptions = typeof redisBackendDefaults;

/** A result waiting for this turn's write. */
interface PendingStore {
  key: string;
  json: string;
  expires: string;
}

/** Channels per SUBSCRIBE/UNSUBSCRIBE/MGET command when thousands of results are outstanding. */
const BATCH = 1000;
/** Results per store script call: bounds how long one call holds the server. */
const STORE_BATCH = 500;

export class RedisBackend implements ResultBackend {
  readonly transport: string;
  readonly capabilities: BackendCapabilities = { groups: true, expiry: true, chords: 'native' };
  readonly keys: ResultKeys;
  readonly options: Readonly<RedisBackendOptions>;
  readonly #target: RedisTarget;
  #cmd: Redis | null = null;
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
  /** The results of one event-loop turn, written by one script call (util/coalesce.ts). */
  readonly #stores = new Coalescer<PendingStore>((batch) => this.#writeStores(batch), { max: STORE_BATCH });
  /**
   * Seconds the chord keys are kept (0: forever). Celery expires `.j/.t/.s` with `result_expires`; here it
   * is the expiry of the last result stored (a part's meta is stored just before its chordPartReturn),
   * Celery's default of one day until then.
   */
  #expires = 86_400;

  constructor(target: RedisTarget, options: RedisBackendOptions, scheme = 'redis') {
    this.transport = scheme;
    this.#target = target;
    this.options = Object.freeze({ ...options });
    this.keys = new ResultKeys(options.globalKeyprefix);
  }

  get client(): Redis {
    if (!this.#cmd)
      throw brokerError('Redis result backend', new Error('not connected: call connect() first'));
    return this.#cmd;
  }

  /** Task ids with at least one waiter (for tests and diagnostics). */
  get waiting(): number {
    return this.#waiters.size;
  }
  /** Channels currently subscribed (for tests: it drops back to 0 once every wait is over). */
  get subscriptions(): number {
    return this.#subscribed.size;
  }

  async connect(): Promise<void> {
    if (this.#cmd) return;
    const cmd = newClient(await loadIoredis(this.transport), this.#target, 'command', this.options);
    await connectClient(cmd, this.#target, 'result backend');
    this.#cmd = cmd;
  }

  /**
   * Results stored in one event-loop turn are written together by one script call (the hot path of a busy
   * worker: one round trip per batch, not per task). Each caller's promise settles with its batch.
   */
  store(meta: ResultMeta, options: StoreOptions): Promise<void> {
    this.#expires = expirySeconds(options);
    if (!this.#cmd) {
      // Not connected (or closed): a rejection, like every other failure.
      return Promise.reject(
        brokerError('Redis result backend', new Error('not connected: call connect() first')),
      );
    }
    let json: string;
    try {
      json = encodeJson(meta); // before batching: one value that cannot be encoded fails only its store
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#stores.add({
      key: this.keys.task(meta.task_id),
      json,
      expires: String(expirySeconds(options)),
    });
  }

  /** One STORE_RESULTS call for a batch: SET (SETEX) + PUBLISH each; a failure fails every result in it. */
  async #writeStores(batch: PendingStore[]): Promise<void> {
    const keys: string[] = [];
    const args: string[] = [];
    for (const p of batch) {
      keys.push(p.key);
      args.push(p.json, p.expires);
    }
    try {
      await runScript(this.client, STORE_RESULTS, keys, args);
    } catch (err) {
      throw brokerError(
        batch.length === 1 ? `storing ${batch[0]?.key}` : `storing ${batch.length} results`,
        err,
      );
    }
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    let raw: string | null;
    try {
      raw = await this.client.get(this.keys.task(taskId));
    } catch (err) {
      throw brokerError(`reading the result of ${taskId}`, err);
    }
    return raw === null ? null : (decodeJson(raw) as ResultMeta);
  }

  /** Waits are pub/sub: SUBSCRIBE before GET (see #sync), no polling, so `intervalMs` does not apply. */
  waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta | null> {
    return this.#waiters.wait(taskId, options);
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
          await sub.subscribe(...ids.map((id) => this.keys.task(id)));
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
          sub.unsubscribe(...ids.map((id) => this.keys.task(id))).catch(() => {
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
      const values = await this.client.mget(...chunk.map((id) => this.keys.task(id)));
      for (const [j, raw] of values.entries()) {
        if (raw !== null) this.#waiters.notify(decodeJson(raw) as ResultMeta, chunk[j] as string);
      }
    }
  }

  #subscriber(): Promise<Redis> {
    this.#subReady ??= (async () => {
      const sub = newClient(await loadIoredis(this.transport), this.#target, 'subscriber', this.options);
      sub.on('message', (channel: string, message: string) => {
        const id = this.keys.taskIdOf(channel);
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
      await connectClient(sub, this.#target, 'result backend subscriber');
      return sub;
    })().catch((err) => {
      this.#subReady = null;
      throw err;
    });
    return this.#subReady;
  }

  async forget(taskId: string): Promise<void> {
    await this.client.del(this.keys.task(taskId));
  }

  async saveGroup(groupId: string, taskIds: readonly string[], options: StoreOptions): Promise<void> {
    await this.#setAndPublish(
      this.keys.group(groupId),
      JSON.stringify({ result: groupResultTuple(groupId, taskIds) }),
      options,
    );
  }

  async getGroup(groupId: string): Promise<string[] | null> {
    const raw = await this.client.get(this.keys.group(groupId));
    if (raw === null) return null;
    const value = decodeJson(raw) as { result?: unknown } | null;
    return idsFromGroupTuple(value?.result);
  }

  /** Celery's backend `set()`: SETEX (or SET) and PUBLISH on the key's name, in one transaction. */
  async #setAndPublish(key: string, value: string, options: StoreOptions): Promise<void> {
    const ex = expirySeconds(options);
    const m = this.client.multi();
    if (ex > 0) m.setex(key, ex, value);
    else m.set(key, value);
    m.publish(key, value);
    await execPipeline(m, `writing ${key}`);
  }

  // ---- chords: Celery 5.2's native Redis chord counter (RedisBackend.on_chord_part_return) ----

  /** The client stores the header size when it applies a chord (`.s`, SETEX + PUBLISH like any set()). */
  async prepareChord(groupId: string, size: number, options: StoreOptions): Promise<void> {
    await this.#setAndPublish(this.keys.chordSize(groupId), String(size), options);
  }

  /** add_to_chord: one more part joins the header (`.t`). */
  async addToChord(groupId: string): Promise<void> {
    await this.client.incr(this.keys.chordExtra(groupId));
  }

  /**
   * A header part finished, as Celery 5.2 does it, so Python and Celeriac workers share one chord:
   *  1. one MULTI: ZADD `.j` `[1, task_id, state, result]` scored by group_index (+inf when unknown; RPUSH
   *     when resultChordOrdered is off), ZCOUNT (LLEN), GET `.t`, GET `.s`, then EXPIRE the three keys;
   *  2. the call that counts exactly `.s + .t` parts completed it (a redelivered part re-adds the same
   *     member, so it does not count twice): it reads the parts (ZRANGE, ordered by group_index) or, when
   *     a GroupResult was saved under the group id (a header with nested groups), the members' results;
   *  3. it deletes `.j`, `.t`, `.s`, whether the parts succeeded or not.
   * Without `.s` nothing fires, as in Celery (5.0 clients: `size` from the body's chord_size stands in).
   */
  async chordPartReturn(
    groupId: string,
    index: number | null,
    meta: ResultMeta,
    size: number | null,
  ): Promise<unknown[] | null> {
    const j = this.keys.chordJoin(groupId);
    const t = this.keys.chordExtra(groupId);
    const s = this.keys.chordSize(groupId);
    // Python's bytes, so a part that a Python worker already added is the same set member (no double count).
    const member = encodePythonJson([1, meta.task_id, meta.status, meta.result]);
    const ordered = this.options.resultChordOrdered;
    const m = this.client.multi();
    if (ordered) m.zadd(j, index === null ? '+inf' : index, member).zcount(j, '-inf', '+inf');
    else m.rpush(j, member).llen(j);
    m.get(t).get(s);
    const ex = this.#expires;
    if (ex > 0) m.expire(j, ex).expire(t, ex).expire(s, ex);
    const res = await execPipeline(m, `chord part of ${groupId}`);
    const ready = Number(res[1]);
    const extra = Number(res[2] ?? 0) || 0;
    const stored = res[3] === null || res[3] === undefined ? null : Number(res[3]);
    const base = stored ?? size;
    if (base === null || ready !== base + extra) return null;
    try {
      const saved = await this.getGroup(groupId);
      if (saved) return chordResults(await this.#memberParts(saved));
      const raw = ordered ? await this.client.zrange(j, 0, -1) : await this.client.lrange(j, 0, -1);
      return chordResults(
        raw.map((r) => {
          const [, taskId, state, result] = decodeJson(r) as [number, string, string, unknown];
          return { taskId, state, result };
        }),
      );
    } finally {
      await this.client.del(j, t, s);
    }
  }

  /** The parts of a saved header, in the saved order (Celery joins the GroupResult instead of `.j`). */
  async #memberParts(ids: readonly string[]): Promise<ChordPart[]> {
    const values = ids.length ? await this.client.mget(...ids.map((id) => this.keys.task(id))) : [];
    return values.map((raw, i) => {
      const m = raw === null ? null : (decodeJson(raw) as ResultMeta);
      return { taskId: ids[i] as string, state: m?.status ?? 'PENDING', result: m?.result ?? null };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Results still gathering for the next batch go out before the connection quits.
    // (sent now, ahead of the QUIT below, which waits for its reply)
    if (this.#cmd) void this.#stores.flush();
    await this.#waiters.close();
    const conns = [this.#cmd, this.#sub];
    this.#cmd = this.#sub = null;
    await Promise.all(conns.map((c) => (c ? quit(c) : undefined)));
  }
}

function expirySeconds(options: StoreOptions): number {
  return options.expires ? Math.max(1, Math.ceil(options.expires)) : 0;
}

export function createRedisBackend(url: URL, options: Record<string, unknown> = {}): RedisBackend {
  const target = parseRedisUrl(url);
  // TLS options belong to the connection; brokerUrl and oid are context the app gives every backend.
  const ignore = new Set([
    'ssl_cert_reqs',
    'ssl_ca_certs',
    'ssl_certfile',
    'ssl_keyfile',
    'brokerUrl',
    'oid',
  ]);
  const o = resolveOptions('Redis result backend', redisBackendDefaults, target.query, options, ignore);
  return new RedisBackend(target, o, url.protocol.replace(/:$/, ''));
}
