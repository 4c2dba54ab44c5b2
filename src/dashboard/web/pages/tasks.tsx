/**
 * Tasks: the list the dashboard holds (bounded: --max-tasks), searched and filtered by the server
 * (/api/tasks), 50 a page. The filters live in the URL (#/tasks?state=FAILURE&name=…), so a link from
 * the overview or a bookmark opens the same view. While the list shows, it re-reads when the stream
 * reports changed tasks, at most once every REFRESH_MS.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { duration, num, time } from '../format.js';
import { type Route, taskHref, useLoad, usePulse } from '../hooks.js';
import { live } from '../live.js';

const LIMIT = 50;
const REFRESH_MS = 2000;
const STATES = ['', 'PENDING', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'RETRY', 'REVOKED', 'REJECTED'];
const FIELDS = ['q', 'state', 'name', 'worker', 'since', 'until'] as const;

function toEpoch(local: string): string {
  if (!local) return '';
  const ms = new Date(local).getTime();
  return Number.isNaN(ms) ? '' : String(ms / 1000);
}

function go(query: URLSearchParams): void {
  for (const [k, v] of [...query.entries()]) if (!v) query.delete(k);
  location.hash = `#/tasks${query.size ? `?${query}` : ''}`;
}

export function Tasks({ route }: { route: Route }) {
  const q = route.query;
  const offset = Number(q.get('offset') ?? 0) || 0;
  const tick = useLiveTick();
  const query: Record<string, string | number | undefined> = {
    offset,
    limit: LIMIT,
    sort: q.get('sort') ?? '-received',
  };
  for (const f of FIELDS) {
    const v = q.get(f) ?? '';
    query[f] = f === 'since' || f === 'until' ? toEpoch(v) : v;
  }
  const key = JSON.stringify(query);
  const list = useLoad(() => api.tasks(query), `${key}#${tick}`);
  const total = list.data?.total ?? 0;

  const onSubmit = (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const next = new URLSearchParams();
    for (const f of FIELDS) next.set(f, String(form.get(f) ?? ''));
    go(next);
  };
  const page = (to: number) => {
    const next = new URLSearchParams(q);
    next.set('offset', String(Math.max(0, to)));
    go(next);
  };

  return (
    <section class="tasks">
      <form class="filters" onSubmit={onSubmit} key={route.query.toString()}>
        <input name="q" type="search" placeholder="search id, name, args…" value={q.get('q') ?? ''} />
        <select name="state" value={q.get('state') ?? ''} aria-label="state">
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s || 'any state'}
            </option>
          ))}
        </select>
        <input name="name" placeholder="task name" value={q.get('name') ?? ''} />
        <input name="worker" placeholder="worker" list="worker-names" value={q.get('worker') ?? ''} />
        <datalist id="worker-names">
          {live.workers.map((w) => (
            <option key={w.hostname} value={w.hostname} />
          ))}
        </datalist>
        <label>
          since <input name="since" type="datetime-local" step="1" value={q.get('since') ?? ''} />
        </label>
        <label>
          until <input name="until" type="datetime-local" step="1" value={q.get('until') ?? ''} />
        </label>
        <button type="submit">Filter</button>
        <button type="button" onClick={() => go(new URLSearchParams())}>
          Clear
        </button>
      </form>
      {list.error && <p class="error">{list.error}</p>}
      <p class="muted" id="tasks-count">
        {list.data
          ? `${num(total)} task${total === 1 ? '' : 's'}${total ? `, ${offset + 1}–${Math.min(total, offset + LIMIT)}` : ''}`
          : 'Loading…'}
      </p>
      <TaskTable tasks={list.data?.tasks ?? []} />
      <div class="pager">
        <button type="button" disabled={offset === 0} onClick={() => page(offset - LIMIT)}>
          ← newer
        </button>
        <button type="button" disabled={offset + LIMIT >= total} onClick={() => page(offset + LIMIT)}>
          older →
        </button>
      </div>
    </section>
  );
}

/** A counter that follows live.taskVersion, but changes at most once every REFRESH_MS. */
function useLiveTick(): number {
  usePulse();
  const [tick, setTick] = useState(0);
  const seen = useRef(live.taskVersion);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => {
    if (live.taskVersion === seen.current || timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      seen.current = live.taskVersion;
      setTick((n) => n + 1);
    }, REFRESH_MS);
  });
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return tick;
}

export function TaskTable({ tasks }: { tasks: import('../../api-types.js').TaskView[] }) {
  if (tasks.length === 0) return <p class="muted">No task matches.</p>;
  return (
    <table id="task-list">
      <thead>
        <tr>
          <th>name</th>
          <th>id</th>
          <th>state</th>
          <th>args</th>
          <th>worker</th>
          <th>received</th>
          <th class="n">runtime</th>
          <th class="n">retries</th>
        </tr>
      </thead>
      <tbody>
        {tasks.map((t) => (
          <tr key={t.id} data-id={t.id}>
            <td>{t.name ?? '?'}</td>
            <td class="mono">
              <a href={taskHref(t.id)}>{t.id}</a>
            </td>
            <td>
              <span class={`state state-${t.state.toLowerCase()}`}>{t.state}</span>
            </td>
            <td class="mono clip">
              {[t.argsrepr, t.kwargsrepr].filter((x) => x && x !== '{}').join(' ') || '–'}
            </td>
            <td>{t.worker ?? '–'}</td>
            <td>{time(t.received)}</td>
            <td class="n">{duration(t.runtime)}</td>
            <td class="n">{num(t.retries)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
