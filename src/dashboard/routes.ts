/**
 * The JSON API under /api (docs/dashboard.md "API"; shapes in api-types.ts). Each route reads the model
 * (model.ts) or the result backend and answers JSON; actions (POST /api/actions/<name>) go through
 * actions.ts once server.ts has checked the method, the CSRF token and read-only.
 */
import type { ResultBackend } from '../backends/backend.js';
import { listDeadLetters } from '../cli/dead-letter.js';
import type { ResultMeta } from '../protocol/result.js';
import { VERSION } from '../version.js';
import type { DeadLetterView, StatsView, TaskDetailView } from './api-types.js';
import { workflowGraph } from './graph.js';
import type { DashboardModel } from './model.js';
import { taskView } from './tasks.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const float = (v: string | null): number | undefined => {
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new HttpError(400, `not a number: ${v}`);
  return n;
};

const isoSeconds = (v: unknown): number | null => {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t / 1000 : null;
};

export class Api {
  readonly #model: DashboardModel;
  #backend: Promise<ResultBackend | null> | null = null;

  constructor(model: DashboardModel) {
    this.#model = model;
  }

  /** The app's backend, or null when it has none (then results come from events alone). */
  backend(): Promise<ResultBackend | null> {
    this.#backend ??= this.#model.app.backend().catch(() => null);
    return this.#backend;
  }

  readonly metaOf = async (id: string): Promise<ResultMeta | null> => {
    const b = await this.backend();
    return b ? b.get(id).catch(() => null) : null;
  };

  session(readOnly: boolean, csrf: string, auth: 'none' | 'basic' | 'token') {
    return { version: VERSION, readOnly, csrf, auth };
  }

  overview() {
    const m = this.#model;
    return { now: m.now(), workers: m.workers(), totals: m.store.totals(), stalls: m.stalls() };
  }

  series(q: URLSearchParams) {
    const window = float(q.get('window')) ?? 900;
    if (window < 1) throw new HttpError(400, 'window must be ≥ 1 second');
    return { step: 1, ...this.#model.series.read(window) };
  }

  tasks(q: URLSearchParams) {
    const s = (k: string) => q.get(k) || undefined;
    return this.#model.store.query({
      state: s('state'),
      name: s('name'),
      worker: s('worker'),
      q: s('q'),
      since: float(q.get('since')),
      until: float(q.get('until')),
      offset: float(q.get('offset')),
      limit: float(q.get('limit')),
      sort: s('sort'),
    });
  }

  async task(id: string): Promise<TaskDetailView> {
    const t = this.#model.store.get(id);
    const meta = await this.metaOf(id);
    if (!t && !meta)
      throw new HttpError(404, `no task ${id} is known (not among the tasks held, nothing stored)`);
    const base = t
      ? taskView(t)
      : {
          id,
          name: meta?.name ?? null,
          state: meta?.status ?? 'PENDING',
          worker: meta?.worker ?? null,
          received: null,
          started: null,
          succeeded: meta?.status === 'SUCCESS' ? isoSeconds(meta.date_done) : null,
          failed: meta?.status === 'FAILURE' ? isoSeconds(meta.date_done) : null,
          runtime: null,
          retries: meta?.retries ?? null,
          argsrepr: null,
          kwargsrepr: null,
          rootId: null,
          parentId: meta?.parent_id ?? null,
        };
    const failed = meta?.status === 'FAILURE';
    const exc = failed ? (meta.result as { exc_type?: unknown; exc_message?: unknown } | null) : null;
    const graph = await workflowGraph(id, this.#model.store, await this.backend(), this.metaOf);
    const children = new Set<string>(t?.children ?? []);
    for (const e of graph.edges) if (e.from === id && e.kind !== 'body') children.add(e.to);
    return {
      ...base,
      // Events carry the result's repr; the backend the value itself (preferred when stored).
      result: meta && meta.status === 'SUCCESS' ? meta.result : (t?.result ?? null),
      exception:
        t?.exception ??
        (exc ? `${String(exc.exc_type)}(${JSON.stringify(exc.exc_message ?? []).slice(1, -1)})` : null),
      traceback: t?.traceback || meta?.traceback || null,
      eta: t?.eta ?? null,
      expires: t?.expires ?? null,
      children: [...children],
      graph,
    };
  }

  queues() {
    return this.#model.queues().then((queues) => ({ queues }));
  }

  async deadLetters(q: URLSearchParams): Promise<{ messages: DeadLetterView[] }> {
    const app = this.#model.app;
    const queue = q.get('queue') || app.conf.workerDeadLetterQueue;
    if (!queue)
      throw new HttpError(400, 'workerDeadLetterQueue is null (dead-lettering is off): pass ?queue=');
    const limit = Math.min(10_000, Math.max(1, float(q.get('limit')) ?? 100));
    const broker = await app.broker();
    if (!broker.browse)
      throw new HttpError(400, `the ${broker.transport}:// broker cannot be browsed for dead letters`);
    const letters = await listDeadLetters(broker, queue, limit);
    return {
      messages: letters.map((d) => {
        const h = d.message.headers;
        return {
          id: d.id,
          task: d.task,
          reason: d.reason,
          at: isoSeconds(d.at),
          argsrepr: typeof h.argsrepr === 'string' ? h.argsrepr : null,
          queue: d.fromQueue,
        };
      }),
    };
  }

  stats(): StatsView {
    const m = this.#model;
    return {
      tasksHeld: m.store.state.tasks.size,
      maxTasks: m.store.maxTasks,
      workers: m.store.state.workers.size,
      eventsPerSecond: m.eventsPerSecond,
      rssBytes: process.memoryUsage.rss(),
      uptime: m.now() - m.started,
    };
  }
}
