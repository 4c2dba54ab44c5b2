/**
 * Waiting for Celery-format results, for the Celeriac driver.
 *
 * - In Redis (`celery-task-meta-<id>`): the Python anchor does the same in celery_driver.py, so both
 *   systems are timed by the same method: poll `EXISTS` over the ids in order, 500 at a time (one cheap
 *   command per 20 ms while waiting), then read every meta once with MGET for its status and `date_done`,
 *   and delete the keys.
 * - Anywhere else (SQLite): through Celeriac's own result backend, `get()` over the ids in order, the
 *   meta read as it is found; 20 ms between looks while the next one is missing, as above.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { ResultBackend } from '../../src/backends/backend.js';
import type { ResultMeta } from '../../src/protocol/result.js';

const PREFIX = 'celery-task-meta-';
const CHUNK = 500;
const POLL_MS = 20;

export interface WaitResult {
  /** Epoch seconds when the last result was seen. */
  end: number;
  /** Epoch seconds of the earliest and latest `date_done`. */
  first_done: number;
  last_done: number;
  failed: number;
  sample: unknown;
}

function epoch(iso: string): number {
  // Celery 5.2 writes naive UTC ISO strings; Celeriac may add an offset. Both are UTC.
  return Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`) / 1000;
}

export async function waitForResults(
  redis: Redis,
  ids: readonly string[],
  timeoutS: number,
): Promise<WaitResult> {
  const deadline = Date.now() + timeoutS * 1000;
  let idx = 0;
  while (idx < ids.length) {
    const chunk = ids.slice(idx, idx + CHUNK).map((id) => PREFIX + id);
    if ((await redis.exists(...chunk)) === chunk.length) {
      idx += chunk.length;
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${idx} of ${ids.length} results`);
    await sleep(POLL_MS);
  }
  const end = Date.now() / 1000;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  let failed = 0;
  let sample: unknown = null;
  for (let k = 0; k < ids.length; k += 1000) {
    const keys = ids.slice(k, k + 1000).map((id) => PREFIX + id);
    const raws = await redis.mget(...keys);
    for (const raw of raws) {
      const meta = JSON.parse(raw ?? 'null') as {
        status?: string;
        result?: unknown;
        date_done?: string;
      } | null;
      if (meta?.status !== 'SUCCESS') failed++;
      if (k === 0 && sample === null) sample = meta?.result ?? null;
      if (meta?.date_done) {
        const t = epoch(meta.date_done);
        if (t < first) first = t;
        if (t > last) last = t;
      }
    }
    await redis.del(...keys);
  }
  return { end, first_done: first, last_done: last, failed, sample };
}

const READY = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/** Wait through a Celeriac result backend (any store; the driver uses it off Redis). */
export async function waitThroughBackend(
  backend: ResultBackend,
  ids: readonly string[],
  timeoutS: number,
): Promise<WaitResult> {
  const deadline = Date.now() + timeoutS * 1000;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  let failed = 0;
  let sample: unknown = null;
  const seen = (meta: ResultMeta, idx: number) => {
    if (meta.status !== 'SUCCESS') failed++;
    if (idx === 0) sample = meta.result ?? null;
    if (meta.date_done) {
      const t = epoch(meta.date_done);
      if (t < first) first = t;
      if (t > last) last = t;
    }
  };
  for (let idx = 0; idx < ids.length; ) {
    const meta = await backend.get(ids[idx]!);
    if (meta && READY.has(meta.status)) {
      seen(meta, idx);
      idx++;
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${idx} of ${ids.length} results`);
    await sleep(POLL_MS);
  }
  return { end: Date.now() / 1000, first_done: first, last_done: last, failed, sample };
}

/** Delete a kombu-layout queue: its list, its priority sub-lists and its exchange binding set. */
export async function purgeQueue(redis: Redis, queue: string): Promise<number> {
  const keys = [queue, `_kombu.binding.${queue}`];
  for (const p of [
    '\x06\x161',
    '\x06\x162',
    '\x06\x163',
    '\x06\x164',
    '\x06\x165',
    '\x06\x166',
    '\x06\x167',
    '\x06\x168',
    '\x06\x169',
  ]) {
    keys.push(queue + p);
  }
  return redis.del(...keys);
}
