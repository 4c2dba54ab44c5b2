/**
 * The dashboard page: reads the session (read-only? CSRF token), starts the live stream, and routes by
 * the URL's hash (#/tasks, #/task/<id>, #/queues, #/actions; the overview otherwise), so every URL it
 * fetches stays relative and the page works under any mount prefix.
 *
 * Safety: all server data reaches the DOM as Preact text nodes or attributes, never as HTML; there is no
 * inline script or style, so the page runs under `Content-Security-Policy: default-src 'self'`.
 */
import './style.css';
import 'uplot/dist/uPlot.min.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { SessionView } from '../api-types.js';
import { loadSession } from './api.js';
import { ActionDialog, setReadOnly } from './confirm.js';
import { usePulse, useRoute } from './hooks.js';
import { live, start } from './live.js';
import { Actions } from './pages/actions.js';
import { Overview } from './pages/overview.js';
import { Queues } from './pages/queues.js';
import { TaskPage } from './pages/task.js';
import { Tasks } from './pages/tasks.js';

const NAV = [
  ['overview', 'Overview'],
  ['tasks', 'Tasks'],
  ['queues', 'Queues'],
  ['actions', 'Actions'],
] as const;

function App() {
  const [session, setSession] = useState<SessionView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const route = useRoute();
  useEffect(() => {
    loadSession().then(
      (s) => {
        setReadOnly(s.readOnly);
        setSession(s);
        start();
      },
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  }, []);
  if (error) return <p class="error">Cannot reach the dashboard API: {error}</p>;
  if (!session) return <p class="loading">Loading…</p>;
  return (
    <>
      <header>
        <h1>
          <a href="#/">Celeriac</a>
        </h1>
        <nav>
          {NAV.filter(([p]) => p !== 'actions' || !session.readOnly).map(([page, label]) => (
            <a
              key={page}
              href={`#/${page}`}
              class={route.page === page || (page === 'tasks' && route.page === 'task') ? 'active' : ''}
            >
              {label}
            </a>
          ))}
        </nav>
        <Status session={session} />
      </header>
      <main>
        <Page page={route.page} arg={route.arg} route={route} />
      </main>
      <ActionDialog />
    </>
  );
}

function Status({ session }: { session: SessionView }) {
  usePulse();
  return (
    <div class="status">
      {session.readOnly && <span class="badge">read-only</span>}
      <span class={live.connected ? 'dot on' : 'dot off'} id="live-status">
        {live.connected ? 'live' : 'reconnecting'}
      </span>
      <span class="muted">v{session.version}</span>
    </div>
  );
}

function Page({ page, arg, route }: { page: string; arg: string; route: ReturnType<typeof useRoute> }) {
  switch (page) {
    case 'tasks':
      return <Tasks route={route} />;
    case 'task':
      return <TaskPage id={arg} key={arg} />;
    case 'queues':
      return <Queues route={route} />;
    case 'actions':
      return <Actions />;
    default:
      return <Overview />;
  }
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
