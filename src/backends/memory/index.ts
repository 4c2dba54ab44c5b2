/**
 * memory:// result backend, for unit tests and examples. Results with the same URL name are shared in
 * one process; expiry is honoured lazily on read. Waiters are woken by an in-process event, no polling:
 * every backend of a name hears each store() and hands the meta to its waiters (../waiters.ts).
 * Chords: a counter per group in the namespace ('counter'); one event loop makes each update atomic.
 */
import { EventEmitter } from 'node:events';
import { encodeJson } from '../../protocol/json.js';
import type { ResultMeta } from '../../protocol/result.js';
import {
  type BackendCapabilities,
  type ChordPart,
  chordResults,
  type ResultBackend,
  type StoreOptions,
} from '../backend.js';
import { ResultWaiters, type WaitOptions } from '../waiters.js';

interface Stored {
  meta: ResultMeta;
  expiresAt: number;
}

class MemoryResults {
  readonly results = new Map<string, Stored>();
  readonly groups = new Map<string, { ids: string[]; expiresAt: number }>();
  /** Chord counters: the header size and the parts done so far, by task id (a redelivered part counts once). */
  readonly chords = new Map<
    string,
    { size: number | null; parts: Map<string, ChordPart & { index: number }>; expiresAt: number }
  >();
  readonly events = new EventEmitter();
  constructor() {
    this.events.setMaxListeners(0);
  }
}

const namespaces = new Map<string, MemoryResults>();

const expiry = (o: StoreOptions) => (o.expires ? Date.now() + o.expires * 1000 : Number.POSITIVE_INFINITY);

export class MemoryBackend implements ResultBackend {
  readonly transport = 'memory';
  readonly capabilities: BackendCapabilities = { groups: true, expiry: true, chords: 'counter' };
  readonly #ns: MemoryResults;
  readonly #onStored = (meta: ResultMeta) => this.#waiters.notify(meta);
  readonly #waiters = new ResultWaiters({
    watch: (taskId) => void this.#ns.events.on(taskId, this.#onStored),
    unwatch: (taskId) => void this.#ns.events.off(taskId, this.#onStored),
    read: (ids) => ids.flatMap((id) => this.#live(id) ?? []),
  });

  constructor(name = '') {
    let ns = namespaces.get(name);
    if (!ns) {
      ns = new MemoryResults();
      namespaces.set(name, ns);
    }
    this.#ns = ns;
  }

  async connect(): Promise<void> {}

  async store(meta: ResultMeta, options: StoreOptions): Promise<void> {
    // Kept as objects, but only what every other backend could encode: tests on memory:// then fail
    // the way production does (an EncodeError FAILURE), not later.
    encodeJson(meta);
    this.#ns.results.set(meta.task_id, { meta, expiresAt: expiry(options) });
    this.#ns.events.emit(meta.task_id, meta);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    return this.#live(taskId);
  }

  /** The stored meta unless it expired (then it is deleted: expired means gone). */
  #live(taskId: string): ResultMeta | null {
    const s = this.#ns.results.get(taskId);
    if (!s) return null;
    if (s.expiresAt <= Date.now()) {
      this.#ns.results.delete(taskId);
      return null;
    }
    return s.meta;
  }

  waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta | null> {
    return this.#waiters.wait(taskId, options);
  }

  async forget(taskId: string): Promise<void> {
    this.#ns.results.delete(taskId);
  }

  async saveGroup(groupId: string, taskIds: readonly string[], options: StoreOptions): Promise<void> {
    this.#ns.groups.set(groupId, { ids: [...taskIds], expiresAt: expiry(options) });
  }

  async getGroup(groupId: string): Promise<string[] | null> {
    const g = this.#ns.groups.get(groupId);
    return g && g.expiresAt > Date.now() ? [...g.ids] : null;
  }

  async prepareChord(groupId: string, size: number, options: StoreOptions): Promise<void> {
    const c = this.#chord(groupId, options);
    c.size = size;
  }

  async chordPartReturn(
    groupId: string,
    index: number | null,
    meta: ResultMeta,
    size: number | null,
  ): Promise<unknown[] | null> {
    const c = this.#chord(groupId, { expires: null });
    c.parts.set(meta.task_id, {
      taskId: meta.task_id,
      state: meta.status,
      result: meta.result,
      index: index ?? Number.POSITIVE_INFINITY,
    });
    const total = c.size ?? size;
    if (total === null || c.parts.size !== total) return null;
    this.#ns.chords.delete(groupId); // done: this call, and only this one, fires the body
    return chordResults([...c.parts.values()].sort((a, b) => a.index - b.index));
  }

  #chord(groupId: string, options: StoreOptions) {
    let c = this.#ns.chords.get(groupId);
    if (c && c.expiresAt <= Date.now()) c = undefined;
    if (!c) {
      c = { size: null, parts: new Map(), expiresAt: expiry(options) };
      this.#ns.chords.set(groupId, c);
    } else if (options.expires) c.expiresAt = expiry(options);
    return c;
  }

  async close(): Promise<void> {
    await this.#waiters.close();
  }
}

export function createMemoryBackend(url: URL): MemoryBackend {
  return new MemoryBackend(url.host + url.pathname.replace(/^\/+$/, ''));
}
