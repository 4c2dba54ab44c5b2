/**
 * TaskStore: the dashboard's view of tasks, folded from Celery events through the public ClusterState
 * (events/state.ts), which bounds memory to `maxTasks` (Flower's max_tasks, 10,000 by default; the
 * oldest first out). Responsibilities:
 *  - feed every event to the ClusterState, then keep what the dashboard adds: totals since start,
 *    the per-second series (succeeded/s, failed/s, in flight, queue wait), the set of tasks changed
 *    since the last live update, and an index of tasks by root id for workflow graphs;
 *  - answer list queries (filter by state, name, worker, text, time; sort; page) and single tasks.
 *
 * Queue wait, per task that starts: from its task-sent event (the client sent events: taskSendSentEvent)
 * or its ETA when later, to task-started; else from task-received to task-started (the time it sat in
 * the worker's prefetch, which is all a dashboard that never saw it sent can know). Times are the
 * events' own timestamps (the sender's clock, moved by its utcoffset).
 */
import type { CeleryEvent } from '../events/event.js';
import { type ClusterState, ClusterTask } from '../events/state.js';
import type { TaskListView, TaskView, Totals } from './api-types.js';
import type { Series } from './series.js';

const READY = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED']);

export interface TaskQuery {
  state?: string | undefined;
  name?: string | undefined;
  worker?: string | undefined;
  /** Text searched in the id, name, args and kwargs repr, result and exception. */
  q?: string | undefined;
  /** Received (else first seen) at or after / before, epoch seconds. */
  since?: number | undefined;
  until?: number | undefined;
  offset?: number | undefined;
  limit?: number | undefined;
  /** A TaskView time or name field, `-` first for descending. @defaultValue '-received' */
  sort?: string | undefined;
}

const SORTABLE = new Set([
  'received',
  'started',
  'succeeded',
  'failed',
  'runtime',
  'name',
  'state',
  'worker',
]);

function etaSeconds(eta: string | null): number | null {
  if (!eta) return null;
  const t = Date.parse(eta);
  return Number.isFinite(t) ? t / 1000 : null;
}

export function taskView(t: ClusterTask): TaskView {
  return {
    id: t.uuid,
    name: t.name,
    state: t.state,
    worker: t.worker,
    received: t.received,
    started: t.started,
    succeeded: t.succeeded,
    failed: t.failed,
    runtime: t.runtime,
    retries: t.retries,
    argsrepr: t.args,
    kwargsrepr: t.kwargs,
    rootId: t.root_id,
    parentId: t.parent_id,
  };
}

export class TaskStore {
  readonly state: ClusterState;
  readonly maxTasks: number;
  readonly #series: Series;
  succeeded = 0;
  failed = 0;
  readonly #inFlight = new Set<string>();
  #dirty = new Set<string>();
  #workersDirty = false;
  /** Ids by root id, for graphs; pruned of evicted tasks as they are looked up. */
  readonly #byRoot = new Map<string, Set<string>>();

  /** `state` must have been made with the same `maxTasks`. */
  constructor(state: ClusterState, series: Series, maxTasks: number) {
    this.state = state;
    this.maxTasks = maxTasks;
    this.#series = series;
  }

  /** The receiver's handler. */
  readonly event = (e: CeleryEvent): void => {
    this.state.event(e);
    const type = e.type;
    if (!type.startsWith('task-')) {
      if (type.startsWith('worker-')) this.#workersDirty = true;
      return;
    }
    const id = e.uuid;
    if (typeof id !== 'string') return;
    // Nobody took the changes for long (no live client): drop them rather than grow.
    if (this.#dirty.size >= this.maxTasks) this.#dirty.clear();
    this.#dirty.add(id);
    const t = this.state.tasks.get(id);
    switch (type) {
      case 'task-started':
        this.#inFlight.add(id);
        if (t) this.#queueWait(t);
        break;
      case 'task-succeeded':
        this.succeeded++;
        this.#series.count('succeeded');
        this.#inFlight.delete(id);
        break;
      case 'task-failed':
        this.failed++;
        this.#series.count('failed');
        this.#inFlight.delete(id);
        break;
      case 'task-retried':
      case 'task-revoked':
      case 'task-rejected':
        this.#inFlight.delete(id);
        break;
    }
    if (t?.root_id && t.root_id !== id) {
      let s = this.#byRoot.get(t.root_id);
      if (!s) {
        s = new Set();
        this.#byRoot.set(t.root_id, s);
      }
      s.add(id);
    }
  };

  #queueWait(t: ClusterTask): void {
    if (t.started === null) return;
    const eta = etaSeconds(t.eta);
    const from = t.sent !== null ? Math.max(t.sent, eta ?? 0) : t.received;
    if (from !== null) this.#series.wait(Math.max(0, (t.started - from) * 1000));
  }

  /** Called once a second: samples the in-flight gauge, forgetting ids the state evicted. */
  sample(): void {
    for (const id of this.#inFlight) {
      const t = this.state.tasks.get(id);
      if (!t || READY.has(t.state)) this.#inFlight.delete(id);
    }
    this.#series.gauge('inFlight', this.#inFlight.size);
    if (this.#byRoot.size > this.maxTasks) {
      for (const [root, ids] of this.#byRoot) {
        for (const id of ids) if (!this.state.tasks.has(id)) ids.delete(id);
        if (!ids.size && !this.state.tasks.has(root)) this.#byRoot.delete(root);
      }
    }
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  totals(): Totals {
    return {
      succeeded: this.succeeded,
      failed: this.failed,
      inFlight: this.#inFlight.size,
      tasksHeld: this.state.tasks.size,
      eventsSeen: this.state.eventCount,
    };
  }

  /** The tasks changed since the last call, newest last, at most `limit` (the newest), and whether workers changed. */
  takeChanges(limit: number): { tasks: TaskView[]; workers: boolean } {
    const ids = [...this.#dirty];
    this.#dirty = new Set();
    const workers = this.#workersDirty;
    this.#workersDirty = false;
    const tasks: TaskView[] = [];
    for (const id of ids.slice(-limit)) {
      const t = this.state.tasks.get(id);
      if (t) tasks.push(taskView(t));
    }
    return { tasks, workers };
  }

  get(id: string): ClusterTask | undefined {
    return this.state.tasks.get(id);
  }

  /** The tasks known to share root `root` (itself included when held). */
  family(root: string): ClusterTask[] {
    const out: ClusterTask[] = [];
    const r = this.state.tasks.get(root);
    if (r) out.push(r);
    for (const id of this.#byRoot.get(root) ?? []) {
      const t = this.state.tasks.get(id);
      if (t) out.push(t);
    }
    return out;
  }

  /**
   * Tasks held that were sent along with `t`: the same parent (none, or the same), received (else sent)
   * within `seconds` of it; the closest in time first, at most `limit`. Candidates for its group.
   */
  sentWith(t: ClusterTask | undefined, seconds: number, limit: number): ClusterTask[] {
    const at = t ? (t.received ?? t.sent) : null;
    if (!t || at === null) return [];
    const near: Array<[number, ClusterTask]> = [];
    for (const o of this.state.tasks.values()) {
      if (o === t || o.parent_id !== t.parent_id) continue;
      const when = o.received ?? o.sent;
      if (when !== null && Math.abs(when - at) <= seconds) near.push([Math.abs(when - at), o]);
    }
    return near
      .sort((a, b) => a[0] - b[0])
      .slice(0, limit)
      .map((x) => x[1]);
  }

  query(o: TaskQuery): TaskListView {
    const q = o.q?.toLowerCase();
    const rows: ClusterTask[] = [];
    for (const t of this.state.tasks.values()) {
      if (o.state && t.state !== o.state.toUpperCase()) continue;
      if (o.name && t.name !== o.name) continue;
      if (o.worker && t.worker !== o.worker) continue;
      const at = t.received ?? t.sent ?? t.timestamp ?? 0;
      if (o.since !== undefined && at < o.since) continue;
      if (o.until !== undefined && at > o.until) continue;
      if (q && !matches(t, q)) continue;
      rows.push(t);
    }
    const sort = o.sort && SORTABLE.has(o.sort.replace(/^-/, '')) ? o.sort : '-received';
    const desc = sort.startsWith('-');
    const key = sort.replace(/^-/, '') as keyof ClusterTask;
    const value = (t: ClusterTask): number | string => {
      const v = t[key] as unknown;
      if (typeof v === 'number' || typeof v === 'string') return v;
      // Not yet received: order by when it was first seen.
      return key === 'received' ? (t.sent ?? t.timestamp ?? 0) : desc ? Number.NEGATIVE_INFINITY : Infinity;
    };
    rows.sort((a, b) => {
      const x = value(a);
      const y = value(b);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return desc ? -c : c;
    });
    const offset = Math.max(0, o.offset ?? 0);
    const limit = Math.max(0, Math.min(1000, o.limit ?? 50));
    return { total: rows.length, tasks: rows.slice(offset, offset + limit).map(taskView) };
  }
}

function matches(t: ClusterTask, q: string): boolean {
  for (const v of [t.uuid, t.name, t.args, t.kwargs, t.result, t.exception])
    if (v?.toLowerCase().includes(q)) return true;
  return false;
}

export { ClusterTask };
