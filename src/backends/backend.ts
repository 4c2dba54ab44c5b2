/**
 * The result backend contract. Every backend (memory, sqlite, redis, rpc) implements it and runs the
 * backend conformance suite (test/conformance/backend.ts). Metas are Celery's (protocol/result.ts), so a
 * backend only stores and notifies; it never interprets states beyond "is it ready".
 */
import type { ResultMeta } from '../protocol/result.js';

export interface StoreOptions {
  /** Seconds until the result may be deleted; null keeps it. */
  expires: number | null;
  /**
   * The request's `reply_to` (its client's reply queue). Only the rpc:// backend needs it: it sends the
   * result there and stores nothing when it is absent, as Celery's rpc backend. Others ignore it.
   */
  replyTo?: string | null;
  /** The request's `correlation_id` (the task id unless a client set it otherwise); rpc:// only. */
  correlationId?: string | null;
}

/** What a backend supports beyond storing and reading metas; the conformance suite reads these. */
export interface BackendCapabilities {
  /** saveGroup/getGroup keep a group's member ids (Celery's GroupResult.save). rpc:// has none, as Celery's. */
  groups: boolean;
  /** A stored result is gone after its `expires` seconds. rpc://: a result message lives until consumed. */
  expiry: boolean;
}

export interface ResultBackend {
  readonly transport: string;
  readonly capabilities: BackendCapabilities;
  connect(): Promise<void>;
  /** Write a task's meta (and notify waiters). */
  store(meta: ResultMeta, options: StoreOptions): Promise<void>;
  /** The latest meta, or null when nothing is stored (PENDING). */
  get(taskId: string): Promise<ResultMeta | null>;
  /**
   * Resolve with the meta once it is in a ready state (SUCCESS, FAILURE, REVOKED), or null when
   * `timeoutMs` passes first (null: wait forever). `intervalMs` is a hint for polling backends.
   */
  waitFor(
    taskId: string,
    options: { timeoutMs: number | null; intervalMs?: number; signal?: AbortSignal },
  ): Promise<ResultMeta | null>;
  forget(taskId: string): Promise<void>;
  /** Save a group's member ids (Celery's GroupResult.save()). */
  saveGroup(groupId: string, taskIds: readonly string[], options: StoreOptions): Promise<void>;
  /** The member ids of a saved group, or null. */
  getGroup(groupId: string): Promise<string[] | null>;
  close(): Promise<void>;
}

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

/**
 * A wait that polls `get()` with a growing interval, for stores without change notification. Starts at
 * 5 ms (results of short tasks come back fast) and doubles up to `intervalMs` (default 500 ms), so a
 * long wait costs about two reads a second.
 */
export async function pollForReady(
  get: () => Promise<ResultMeta | null>,
  options: { timeoutMs: number | null; intervalMs?: number; signal?: AbortSignal },
  isReady: (meta: ResultMeta) => boolean,
): Promise<ResultMeta | null> {
  const deadline = options.timeoutMs === null ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  const maxInterval = options.intervalMs ?? 500;
  let interval = Math.min(5, maxInterval);
  for (;;) {
    const meta = await get();
    if (meta && isReady(meta)) return meta;
    const left = deadline - Date.now();
    if (left <= 0 || options.signal?.aborted) return null;
    await new Promise((r) => setTimeout(r, Math.min(interval, left)));
    interval = Math.min(interval * 2, maxInterval);
  }
}
