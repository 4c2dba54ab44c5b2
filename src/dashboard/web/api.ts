/**
 * The page's only way to the server: the JSON API of ../api-types.ts, by URLs relative to the page
 * (`api/overview`, not `/api/overview`), so the dashboard works mounted under any path prefix.
 */
import type {
  ActionBodies,
  ActionName,
  ActionResultView,
  DeadLettersView,
  OverviewView,
  QueuesView,
  SeriesView,
  SessionView,
  StatsView,
  TaskDetailView,
  TaskListView,
} from '../api-types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page): report the status alone.
  }
  if (!res.ok) {
    const error = body && typeof body === 'object' && 'error' in body ? String(body.error) : res.statusText;
    throw new ApiError(res.status, `${res.status} ${error}`);
  }
  return body as T;
}

export async function get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
  const qs = params.toString();
  const res = await fetch(`api/${path}${qs ? `?${qs}` : ''}`, {
    headers: { accept: 'application/json' },
    credentials: 'same-origin',
  });
  return parse<T>(res);
}

let csrf = '';

export async function loadSession(): Promise<SessionView> {
  const s = await get<SessionView>('session');
  csrf = s.csrf;
  return s;
}

export async function postAction<N extends ActionName>(
  name: N,
  body: ActionBodies[N],
): Promise<ActionResultView> {
  const res = await fetch(`api/actions/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, accept: 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });
  return parse<ActionResultView>(res);
}

export const api = {
  overview: () => get<OverviewView>('overview'),
  series: (window = 900) => get<SeriesView>('series', { window }),
  tasks: (q: Record<string, string | number | undefined>) => get<TaskListView>('tasks', q),
  task: (id: string) => get<TaskDetailView>(`tasks/${encodeURIComponent(id)}`),
  queues: () => get<QueuesView>('queues'),
  deadLetters: (queue?: string, limit = 100) => get<DeadLettersView>('dead-letters', { queue, limit }),
  stats: () => get<StatsView>('stats'),
};
