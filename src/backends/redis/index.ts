/**
 * redis:// and rediss:// — the Redis result backend, in Celery's layout (celery-wire.md §4; keys in
 * ../../drivers/redis/keys.ts), so Python clients read our results and we read theirs.
 *
 * | feature          | support |
 * |------------------|---------|
 * | results          | `celery-task-meta-<id>`: SETEX (SET when expires is null) and PUBLISH on the same name, in one Lua call per batch (the results of one event-loop turn) |
 * | dedup guard      | a stored SUCCESS is never overwritten (as Celery: a lost-and-redelivered task cannot clobber it) |
 * | waiting          | pub/sub, no polling (subscriptions.ts): one subscriber connection for all waits, SUBSCRIBE before GET, UNSUBSCRIBE when done |
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
import type { WaitOptions } from '../waiters.js';
import { STORE_RESULTS } from './scripts.js';
import { ResultSubscriptions } from './subscriptions.js';

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

/** Results per store script call: bounds how long one call holds the server. */
const STORE_BATCH = 500;

export class RedisBackend implements ResultBackend {
  readonly transport: string;
  readonly capabilities: BackendCapabilities = { groups: true, expiry: true, chords: 'native' };
  readonly keys: ResultKeys;
  readonly options: Readonly<RedisBackendOptions>;
  readonly #target: RedisTarget;
  #cmd: Redis | null = null;
  /** Waits: the subscriber connection and its subscriptions (subscriptions.ts). */
  readonly #subs: ResultSubscriptions;
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
    this.#subs = new ResultSubscriptions({
      transport: scheme,
      target,
      tuning: this.options,
      keys: this.keys,
      command: () => this.client,
    });
  }

  get client(): Redis {
    if (!this.#cmd)
      throw brokerError('Redis result backend', new Error('not connected: call connect() first'));
    return this.#cmd;
  }

  /** Task ids with at least one waiter (for tests and diagnostics). */
  get waiting(): number {
    return this.#subs.waiting;
  }
  /** Channels currently subscribed (for tests: it drops back to 0 once every wait is over). */
  get subscriptions(): number {
    return this.#subs.subscriptions;
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

  /** Waits are pub/sub: SUBSCRIBE before GET (subscriptions.ts), no polling, so `intervalMs` does not apply. */
  waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta | null> {
    return this.#subs.wait(taskId, options);
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
    const sub = await this.#subs.close();
    const conns = [this.#cmd, sub];
    this.#cmd = null;
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
