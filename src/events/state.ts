/**
 * ClusterState: folds events into what is known of each worker and task, as celery.events.state.State
 * does for Flower and `celery events`; the data source of `celeriac events` and of the dashboard.
 * Responsibilities:
 *  - workers by hostname: the fields of their heartbeats (freq, active, processed, loadavg, sw_*), the
 *    last 4 heartbeat times, and `alive`: a heartbeat within freq × 2 (HEARTBEAT_EXPIRE_WINDOW 200 %);
 *    worker-offline empties its heartbeats (it stays, OFFLINE, as Flower shows it). Task events count as heartbeats of their worker, as in Celery;
 *  - tasks by id: state from the event type (sent PENDING, received RECEIVED, started STARTED,
 *    succeeded SUCCESS, failed FAILURE, retried RETRY, revoked REVOKED, rejected REJECTED), the time of
 *    each (`received`, `started`, `succeeded` …), and the fields events carry (name, args, result,
 *    runtime, exception, traceback …). Events may arrive out of order (a batch, two connections): an
 *    event whose state logically comes before the current one does not move the state back; from a late
 *    task-received only name, args, kwargs, parent_id, root_id, retries, eta and expires are kept
 *    (Celery's precedence and merge_rules);
 *  - bounded memory: at most `maxTasks` (10,000) tasks and `maxWorkers` (5,000) workers, the oldest
 *    first out (Celery's max_tasks_in_memory / max_workers_in_memory LRU, which is by creation since its
 *    event handler reads without touching the LRU order).
 * Field names are Celery's (root_id, sw_ident …), so what Flower shows and the JSON a Python State
 * holds compare one to one. Time is injectable (`now`) for tests of `alive`.
 */
import type { CeleryEvent } from './event.js';

export const HEARTBEAT_EXPIRE_WINDOW = 200;
const HEARTBEAT_MAX = 4;

/** celery.states.PRECEDENCE: lower index = later (wins); unknown states sit where null is. */
const PRECEDENCE = [
  'SUCCESS',
  'FAILURE',
  null,
  'REVOKED',
  'STARTED',
  'RECEIVED',
  'REJECTED',
  'RETRY',
  'PENDING',
];
const NONE = PRECEDENCE.indexOf(null);
const precedence = (s: string): number => {
  const i = PRECEDENCE.indexOf(s);
  return i < 0 ? NONE : i;
};

const TASK_EVENT_TO_STATE: Readonly<Record<string, string>> = {
  sent: 'PENDING',
  received: 'RECEIVED',
  started: 'STARTED',
  failed: 'FAILURE',
  retried: 'RETRY',
  succeeded: 'SUCCESS',
  revoked: 'REVOKED',
  rejected: 'REJECTED',
};

/** Fields a late task-received may still set (Celery's merge_rules[RECEIVED]). */
const RECEIVED_KEEP = new Set([
  'name',
  'args',
  'kwargs',
  'parent_id',
  'root_id',
  'retries',
  'eta',
  'expires',
]);

/** Event fields that are not task data. */
const ENVELOPE = new Set(['type', 'hostname', 'pid', 'utcoffset', 'local_received', 'uuid']);

/** Task fields copied from events (every other event field is ignored). */
const TASK_FIELDS = new Set([
  'name',
  'args',
  'kwargs',
  'retries',
  'eta',
  'expires',
  'root_id',
  'parent_id',
  'result',
  'runtime',
  'exception',
  'traceback',
  'exchange',
  'routing_key',
  'queue',
  'terminated',
  'signum',
  'expired',
  'requeue',
  'clock',
  'timestamp',
  'state',
]);

const WORKER_FIELDS = [
  'pid',
  'freq',
  'clock',
  'active',
  'processed',
  'loadavg',
  'sw_ident',
  'sw_ver',
  'sw_sys',
];

export class ClusterWorker {
  readonly hostname: string;
  pid: number | null = null;
  freq = 60;
  /** The last 4 heartbeat times (local_received), ascending. */
  readonly heartbeats: number[] = [];
  clock = 0;
  active: number | null = null;
  processed: number | null = null;
  loadavg: number[] | null = null;
  sw_ident: string | null = null;
  sw_ver: string | null = null;
  sw_sys: string | null = null;
  readonly #now: () => number;

  constructor(hostname: string, now: () => number) {
    this.hostname = hostname;
    this.#now = now;
  }

  /** When the worker counts as gone unless it sends again (epoch seconds), or null before any heartbeat. */
  get heartbeatExpires(): number | null {
    const last = this.heartbeats[this.heartbeats.length - 1];
    return last === undefined ? null : last + this.freq * (HEARTBEAT_EXPIRE_WINDOW / 100);
  }

  get alive(): boolean {
    const exp = this.heartbeatExpires;
    return exp !== null && this.#now() < exp;
  }

  get status(): 'ONLINE' | 'OFFLINE' {
    return this.alive ? 'ONLINE' : 'OFFLINE';
  }

  /** A heartbeat at `at` (seconds): kept sorted, at most 4. */
  beat(at: number): void {
    const hb = this.heartbeats;
    if (hb.length >= HEARTBEAT_MAX) hb.shift();
    const last = hb[hb.length - 1];
    if (last === undefined || at > last) hb.push(at);
    else {
      let i = hb.length;
      while (i > 0 && (hb[i - 1] as number) > at) i--;
      hb.splice(i, 0, at);
    }
  }

  toJSON(): Record<string, unknown> {
    return {
      hostname: this.hostname,
      pid: this.pid,
      freq: this.freq,
      heartbeats: [...this.heartbeats],
      clock: this.clock,
      active: this.active,
      processed: this.processed,
      loadavg: this.loadavg,
      sw_ident: this.sw_ident,
      sw_ver: this.sw_ver,
      sw_sys: this.sw_sys,
      alive: this.alive,
    };
  }
}

export class ClusterTask {
  readonly uuid: string;
  state = 'PENDING';
  name: string | null = null;
  args: string | null = null;
  kwargs: string | null = null;
  retries: number | null = null;
  eta: string | null = null;
  expires: string | null = null;
  root_id: string | null = null;
  parent_id: string | null = null;
  result: string | null = null;
  runtime: number | null = null;
  exception: string | null = null;
  traceback: string | null = null;
  exchange: string | null = null;
  routing_key: string | null = null;
  queue: string | null = null;
  /** task-revoked's and task-rejected's details. */
  terminated: boolean | null = null;
  signum: number | string | null = null;
  expired: boolean | null = null;
  requeue: boolean | null = null;
  clock = 0;
  /** Time of the event that set the current state (epoch seconds). */
  timestamp: number | null = null;
  /** The hostname of the worker that has it, and the client that sent it (task-sent). */
  worker: string | null = null;
  client: string | null = null;
  /** When each event happened (epoch seconds). */
  sent: number | null = null;
  received: number | null = null;
  started: number | null = null;
  succeeded: number | null = null;
  failed: number | null = null;
  retried: number | null = null;
  revoked: number | null = null;
  rejected: number | null = null;
  /** Ids of the tasks known to have this one as parent. */
  readonly children = new Set<string>();

  constructor(uuid: string) {
    this.uuid = uuid;
  }

  get ready(): boolean {
    return this.state === 'SUCCESS' || this.state === 'FAILURE' || this.state === 'REVOKED';
  }

  /** Fold in event `subject` (`succeeded` …) with its fields (celery.events.state.Task.event). */
  event(subject: string, event: CeleryEvent): void {
    const known = TASK_EVENT_TO_STATE[subject];
    const state = known ?? subject.toUpperCase();
    const self = this as unknown as Record<string, unknown>;
    if (known) self[subject] = event.timestamp;
    let keep: ((k: string) => boolean) | null = null;
    const earlier = state !== 'RETRY' && this.state !== 'RETRY' && precedence(state) > precedence(this.state);
    if (earlier) {
      // Logically before the current state: it does not move the state back.
      keep = state === 'RECEIVED' ? (k) => RECEIVED_KEEP.has(k) : (k) => k !== 'state' && k !== 'timestamp';
    } else {
      this.state = state;
      this.timestamp = event.timestamp;
    }
    for (const k in event) {
      if (ENVELOPE.has(k) || !TASK_FIELDS.has(k) || k === 'state' || k === 'timestamp') continue;
      if (keep && !keep(k)) continue;
      self[k] = event[k];
    }
  }

  toJSON(): Record<string, unknown> {
    const { children, ...rest } = Object.fromEntries(Object.entries(this)) as Record<string, unknown>;
    return { ...rest, uuid: this.uuid, state: this.state, children: [...this.children] };
  }
}

export interface ClusterStateOptions {
  /** @defaultValue 10000 (Celery's max_tasks_in_memory) */
  readonly maxTasks?: number;
  /** @defaultValue 5000 (Celery's max_workers_in_memory) */
  readonly maxWorkers?: number;
  /** The current time in epoch seconds (for `alive`). @defaultValue Date.now() / 1000 */
  readonly now?: () => number;
}

export class ClusterState {
  readonly #workers = new Map<string, ClusterWorker>();
  readonly #tasks = new Map<string, ClusterTask>();
  readonly #maxTasks: number;
  readonly #maxWorkers: number;
  readonly #now: () => number;
  /** Events folded in, and task-received events among them (Celery's event_count, task_count). */
  eventCount = 0;
  taskCount = 0;

  constructor(options: ClusterStateOptions = {}) {
    this.#maxTasks = options.maxTasks ?? 10_000;
    this.#maxWorkers = options.maxWorkers ?? 5_000;
    this.#now = options.now ?? (() => Date.now() / 1000);
  }

  get workers(): ReadonlyMap<string, ClusterWorker> {
    return this.#workers;
  }

  get tasks(): ReadonlyMap<string, ClusterTask> {
    return this.#tasks;
  }

  /** The handler to give a receiver: `receiver({ handlers: { '*': state.event } })`. */
  readonly event = (event: CeleryEvent): void => {
    this.eventCount++;
    const type = event.type;
    const dash = type.indexOf('-');
    const group = dash < 0 ? type : type.slice(0, dash);
    const subject = dash < 0 ? '' : type.slice(dash + 1);
    if (group === 'worker') this.#workerEvent(subject, event);
    else if (group === 'task' && typeof event.uuid === 'string') this.#taskEvent(subject, event);
  };

  #workerEvent(subject: string, event: CeleryEvent): void {
    const { hostname, timestamp, local_received } = event;
    if (typeof hostname !== 'string') return;
    // An unknown worker going offline is not added (Celery's State neither).
    if (subject === 'offline' && !this.#workers.has(hostname)) return;
    const w = this.#worker(hostname);
    for (const k of WORKER_FIELDS)
      if (event[k] !== undefined) (w as unknown as Record<string, unknown>)[k] = event[k];
    if (subject === 'offline')
      w.heartbeats.length = 0; // kept, shown OFFLINE
    else if (typeof local_received === 'number' && typeof timestamp === 'number') w.beat(local_received);
  }

  #taskEvent(subject: string, event: CeleryEvent): void {
    const uuid = event.uuid as string;
    let task = this.#tasks.get(uuid);
    if (!task) {
      task = new ClusterTask(uuid);
      this.#tasks.set(uuid, task);
      if (this.#tasks.size > this.#maxTasks) {
        const oldest = this.#tasks.keys().next().value as string;
        this.#tasks.delete(oldest);
      }
    }
    if (subject === 'sent') task.client = event.hostname;
    else if (typeof event.hostname === 'string') {
      const w = this.#worker(event.hostname);
      task.worker = w.hostname;
      if (typeof event.local_received === 'number') w.beat(event.local_received);
    }
    if (subject === 'received') this.taskCount++;
    task.event(subject, event);
    if (task.parent_id) this.#tasks.get(task.parent_id)?.children.add(uuid);
  }

  #worker(hostname: string): ClusterWorker {
    let w = this.#workers.get(hostname);
    if (!w) {
      w = new ClusterWorker(hostname, this.#now);
      this.#workers.set(hostname, w);
      if (this.#workers.size > this.#maxWorkers) {
        const oldest = this.#workers.keys().next().value as string;
        this.#workers.delete(oldest);
      }
    }
    return w;
  }

  /** Workers with a heartbeat within their window. */
  aliveWorkers(): ClusterWorker[] {
    return [...this.#workers.values()].filter((w) => w.alive);
  }

  /** The latest `limit` tasks, newest first (by the time of their last event). */
  latestTasks(limit = 50): ClusterTask[] {
    return [...this.#tasks.values()].sort((a, b) => (b.timestamp ?? 0) - (a.timestamp ?? 0)).slice(0, limit);
  }

  /** Tasks of one name (Celery's tasks_by_type). */
  tasksByType(name: string): ClusterTask[] {
    return [...this.#tasks.values()].filter((t) => t.name === name);
  }

  /** Forget everything (ready tasks only, with `readyOnly`). */
  clear(readyOnly = false): void {
    if (readyOnly) {
      for (const [id, t] of this.#tasks) if (t.ready) this.#tasks.delete(id);
      return;
    }
    this.#tasks.clear();
    this.#workers.clear();
    this.eventCount = 0;
    this.taskCount = 0;
  }
}
