/**
 * The result backend contract. Every backend (memory, sqlite, redis, rpc) implements it and runs the
 * backend conformance suite (test/conformance/backend.ts). Metas are Celery's (protocol/result.ts), so a
 * backend only stores and notifies; it never interprets states beyond "is it ready". Waiting (waiters,
 * timeout, abort, polling) is written once, in waiters.ts; a backend only says how it hears of results.
 */
import { ChordError } from '../errors.js';
import { excRepr, type ResultMeta } from '../protocol/result.js';
import type { WaitOptions } from './waiters.js';

export type { WaitOptions } from './waiters.js';

/** How long a stored result or group is kept. */
export interface StoreOptions {
  /** Seconds until the result may be deleted; null keeps it. */
  expires: number | null;
}

/**
 * The request a result answers. Only the rpc:// backend uses it: it sends the result to `replyTo` (the
 * client's reply queue) with `correlationId`, and sends nothing when `replyTo` is null, as Celery's rpc
 * backend. Backends that store results by task id ignore it.
 */
export interface ResultOrigin {
  /** The request's `reply_to`. */
  replyTo: string | null;
  /** The request's `correlation_id`; null: the task id. */
  correlationId: string | null;
}

/** What a backend supports beyond storing and reading metas; the conformance suite reads these. */
export interface BackendCapabilities {
  /** saveGroup/getGroup keep a group's member ids (Celery's GroupResult.save). rpc:// has none, as Celery's. */
  groups: boolean;
  /** A stored result is gone after its `expires` seconds. rpc://: a result message lives until consumed. */
  expiry: boolean;
  /**
   * How a chord's body is fired once its header is done:
   *  - 'native': Celery's own Redis counter (`.j`/`.s`/`.t` keys), so Python and Celeriac workers can
   *    share one chord (celery-wire.md §4.3);
   *  - 'counter': an atomic counter in the store (sqlite, memory);
   *  - 'unlock': no counter; Celery's `celery.chord_unlock` task polls the header's results;
   *  - false: chords are refused, as Celery's rpc:// backend refuses them.
   * 'native' and 'counter' backends implement `prepareChord` and `chordPartReturn`.
   */
  chords: 'native' | 'counter' | 'unlock' | false;
}

export interface ResultBackend {
  readonly transport: string;
  readonly capabilities: BackendCapabilities;
  connect(): Promise<void>;
  /** Write a task's meta (and notify waiters). `origin`: the request it answers (rpc:// needs it). */
  store(meta: ResultMeta, options: StoreOptions, origin?: ResultOrigin | null): Promise<void>;
  /** The latest meta, or null when nothing is stored (PENDING). */
  get(taskId: string): Promise<ResultMeta | null>;
  /**
   * Resolve with the meta once it is in a ready state (SUCCESS, FAILURE, REVOKED), or null when
   * `timeoutMs` passes first (null: wait forever), the signal aborts or the backend closes. `intervalMs`
   * is a hint for polling backends.
   */
  waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta | null>;
  forget(taskId: string): Promise<void>;
  /** Save a group's member ids (Celery's GroupResult.save()). */
  saveGroup(groupId: string, taskIds: readonly string[], options: StoreOptions): Promise<void>;
  /** The member ids of a saved group, or null. */
  getGroup(groupId: string): Promise<string[] | null>;
  /**
   * A chord of `size` header parts is about to be published under `groupId` (the client calls it before
   * the header). Redis: SET `celery-taskset-meta-<gid>.s` = size with the result expiry, as Celery 5.2.
   */
  prepareChord?(groupId: string, size: number, options: StoreOptions): Promise<void>;
  /**
   * A header part's final state was stored (the worker calls it with that meta; `index` is its
   * `group_index`, null when unknown: ordered last). Resolves with the header's results ordered by
   * group index when this call completed the chord (exactly once across all workers, Python ones
   * included on Redis; the counters are then deleted), else null. When the completing call finds a
   * FAILURE or REVOKED part, it rejects with a ChordError naming that part as Celery does
   * (`Dependency <id> raised ValueError('boom')`); any other rejection is the store's failure.
   * `size`: the header size when the caller knows it and the store has none (Celery 5.0 clients sent
   * it in the body as `chord_size`); null otherwise.
   */
  chordPartReturn?(
    groupId: string,
    index: number | null,
    meta: ResultMeta,
    size: number | null,
  ): Promise<unknown[] | null>;
  close(): Promise<void>;
}

/** One finished header part as a counter keeps it. */
export interface ChordPart {
  taskId: string;
  state: string;
  result: unknown;
}

/** The header results in order, or the ChordError of the first failed part (Celery's `_unpack_chord_result`). */
export function chordResults(parts: readonly ChordPart[]): unknown[] {
  return parts.map((p) => {
    if (PROPAGATE_STATES.has(p.state))
      throw new ChordError(`Dependency ${p.taskId} raised ${excRepr(p.result)}`);
    return p.result;
  });
}

/** States that fail a chord when a header part ends in them. */
const PROPAGATE_STATES: ReadonlySet<string> = new Set(['FAILURE', 'REVOKED']);

/** Celery's rpc:// refusal, word for word (celery/backends/rpc.py E_NO_CHORD_SUPPORT). */
export const E_NO_CHORD_SUPPORT = `The "rpc" result backend does not support chords!

Note that a group chained with a task is also upgraded to be a chord,
as this pattern requires synchronization.

Result backends that supports chords: Redis, Database, Memcached, and more.`;

/** Celery's refusal when no result backend is configured (celery/backends/base.py E_CHORD_NO_BACKEND). */
export const E_CHORD_NO_BACKEND = `Starting chords requires a result backend to be configured.

Note that a group chained with a task is also upgraded to be a chord,
as this pattern requires synchronization.

Result backends that supports chords: Redis, Database, Memcached, and more.`;

/** GroupResult as Celery stores it: `[[group_id, null], [[[id, null], null], …]]`. */
export function groupResultTuple(groupId: string, taskIds: readonly string[]): unknown {
  return [[groupId, null], taskIds.map((id) => [[id, null], null])];
}

export function idsFromGroupTuple(value: unknown): string[] | null {
  if (!Array.isArray(value) || !Array.isArray(value[1])) return null;
  return (value[1] as unknown[]).map((child) => {
    const c = child as [[string, unknown], unknown];
    return c[0][0];
  });
}
