/**
 * The dashboard's JSON API, as types only (no runtime code): the contract between the server
 * (src/dashboard/*.ts) and the page (src/dashboard/web/). Every time is epoch seconds (a float).
 * docs/dashboard.md "API" documents each route with these shapes.
 */

/** GET /api/session */
export interface SessionView {
  readonly version: string;
  readonly readOnly: boolean;
  /** Send it back as the `x-csrf-token` header of every POST /api/actions/<name>. */
  readonly csrf: string;
  readonly auth: 'none' | 'basic' | 'token';
}

export interface WorkerView {
  readonly hostname: string;
  readonly online: boolean;
  /** From the heartbeat's sw_ident: 'celeriac' is TypeScript, anything else (py-celery) Python. */
  readonly language: 'python' | 'typescript';
  readonly swIdent: string | null;
  readonly swVer: string | null;
  /** The pool implementation (from `inspect stats`), null until known. */
  readonly pool: string | null;
  readonly concurrency: number | null;
  readonly processed: number | null;
  readonly active: number | null;
  readonly loadavg: number[];
  /** Seconds since the last heartbeat, null before any. */
  readonly heartbeatAge: number | null;
  readonly pid: number | null;
}

/** Event-loop stalls blamed on one task name, from a Celeriac worker's blocking monitor. */
export interface StallView {
  readonly task: string;
  readonly count: number;
  /** The longest stall blamed on it, in milliseconds (null when the worker does not say). */
  readonly maxMs: number | null;
  /** When the last one happened, null when the worker does not say. */
  readonly lastAt: number | null;
  readonly worker: string;
}

export interface Totals {
  readonly succeeded: number;
  readonly failed: number;
  readonly inFlight: number;
  readonly tasksHeld: number;
  readonly eventsSeen: number;
}

/** GET /api/overview */
export interface OverviewView {
  readonly now: number;
  readonly workers: WorkerView[];
  readonly totals: Totals;
  readonly stalls: StallView[];
}

/** GET /api/series?window=900: per-second buckets, oldest first, the last one is the current second. */
export interface SeriesView {
  readonly step: 1;
  /** The time of the first bucket. */
  readonly start: number;
  readonly succeeded: number[];
  readonly failed: number[];
  readonly inFlight: number[];
  /** Mean queue wait of the tasks that started in that second, null when none did. */
  readonly queueWaitMs: (number | null)[];
  readonly depth: Record<string, number[]>;
}

export interface TaskView {
  readonly id: string;
  readonly name: string | null;
  readonly state: string;
  readonly worker: string | null;
  readonly received: number | null;
  readonly started: number | null;
  readonly succeeded: number | null;
  readonly failed: number | null;
  /** Seconds. */
  readonly runtime: number | null;
  readonly retries: number | null;
  readonly argsrepr: string | null;
  readonly kwargsrepr: string | null;
  readonly rootId: string | null;
  readonly parentId: string | null;
}

/** GET /api/tasks */
export interface TaskListView {
  readonly total: number;
  readonly tasks: TaskView[];
}

export interface GraphNode {
  readonly id: string;
  readonly name: string | null;
  readonly state: string;
  readonly kind: 'task' | 'group' | 'chord';
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: 'child' | 'chain' | 'group' | 'body';
}

/** GET /api/tasks/:id */
export interface TaskDetailView extends TaskView {
  /** The result as its repr string (events) or JSON value (the backend). */
  readonly result: unknown;
  readonly exception: string | null;
  readonly traceback: string | null;
  readonly eta: string | null;
  readonly expires: string | null;
  readonly children: string[];
  readonly graph: { readonly nodes: GraphNode[]; readonly edges: GraphEdge[] };
}

export interface QueueView {
  readonly name: string;
  readonly depth: number;
  /** Ready messages by priority where the broker keeps them apart (Redis: 0, 3, 6, 9). */
  readonly byPriority?: Record<string, number>;
  /** Workers consuming it (from `inspect active_queues`), null when unknown. */
  readonly consumers: number | null;
}

/** GET /api/queues */
export interface QueuesView {
  readonly queues: QueueView[];
}

export interface DeadLetterView {
  readonly id: string;
  readonly task: string | null;
  readonly reason: string;
  /** When it was dead-lettered, null when not recorded. */
  readonly at: number | null;
  readonly argsrepr: string | null;
  /** The queue it came from. */
  readonly queue: string | null;
}

/** GET /api/dead-letters?queue=&limit= */
export interface DeadLettersView {
  readonly messages: DeadLetterView[];
}

/** GET /api/stats */
export interface StatsView {
  readonly tasksHeld: number;
  readonly maxTasks: number;
  readonly workers: number;
  readonly eventsPerSecond: number;
  readonly rssBytes: number;
  /** Seconds since the dashboard started. */
  readonly uptime: number;
}

export type ActionName =
  | 'revoke'
  | 'retry'
  | 'rate-limit'
  | 'time-limit'
  | 'pool-grow'
  | 'pool-shrink'
  | 'shutdown'
  | 'dead-letter-requeue'
  | 'dead-letter-purge';

/** The JSON body of each POST /api/actions/<name>. */
export interface ActionBodies {
  revoke: { id: string; terminate?: boolean; signal?: string };
  retry: { id: string };
  'rate-limit': { worker?: string; task: string; rate: string | number };
  'time-limit': { worker?: string; task: string; soft?: number | null; hard?: number | null };
  'pool-grow': { worker: string; n: number };
  'pool-shrink': { worker: string; n: number };
  shutdown: { worker: string };
  'dead-letter-requeue': { queue?: string; ids?: string[] };
  'dead-letter-purge': { queue?: string; ids?: string[] };
}

export interface ActionReply {
  /** The worker's node name, or 'broker' / 'dashboard' for what the dashboard did itself. */
  readonly worker: string;
  readonly ok: boolean;
  readonly message: string;
}

/** POST /api/actions/<name> */
export interface ActionResultView {
  readonly ok: boolean;
  readonly replies: ActionReply[];
  /** retry: the id of the new task. */
  readonly id?: string;
}

/** Every error response: 400, 401, 403, 404, 405, 500, 503. */
export interface ErrorView {
  readonly error: string;
}

/** The point of an SSE update: the last complete second. */
export interface SeriesPoint {
  readonly t: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly inFlight: number;
  readonly queueWaitMs: number | null;
  readonly depth: Record<string, number>;
}

/** GET /api/events: `event: update`, data is this, at most ~4 a second. */
export interface UpdateEvent {
  readonly now: number;
  /** Present when any worker changed since the last update. */
  readonly workers?: WorkerView[];
  /** The tasks changed since the last update (absent when none). */
  readonly tasks?: TaskView[];
  readonly totals: Totals;
  readonly point: SeriesPoint;
}
