/**
 * What `celeriac events` prints, as pure functions of a ClusterState or an event (no I/O), so the
 * command (events.ts) only decides when and where: a screen of workers and the latest tasks, redrawn in
 * place on a terminal, one line per event otherwise, and the raw event for `--dump`.
 */
import type { CeleryEvent } from '../events/event.js';
import type { ClusterState, ClusterTask } from '../events/state.js';

const pad = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));

function ago(seconds: number | undefined, now: number): string {
  if (seconds === undefined) return '-';
  const d = Math.max(0, now - seconds);
  return d < 60 ? `${d.toFixed(1)}s ago` : `${Math.floor(d / 60)}m ago`;
}

function clock(ts: number | null | undefined): string {
  if (typeof ts !== 'number') return '--:--:--';
  return new Date(ts * 1000).toISOString().slice(11, 23);
}

function outcome(t: ClusterTask): string {
  if (t.exception) return t.exception;
  if (t.result !== null) return t.result;
  return t.args !== null ? `args=${t.args}` : '';
}

export interface ScreenOptions {
  readonly title: string;
  readonly width: number;
  readonly height: number;
  /** Epoch seconds. */
  readonly now: number;
}

/** The whole screen: a title, the workers, then as many of the latest tasks as fit. */
export function renderScreen(state: ClusterState, o: ScreenOptions): string {
  const w = Math.max(60, o.width);
  const lines: string[] = [];
  lines.push(
    pad(
      `${o.title}  ${state.workers.size} workers  ${state.eventCount} events  ${clock(o.now)} UTC  (Ctrl-C quits)`,
      w,
    ),
    '',
    pad(
      `${pad('WORKER', 32)} ${pad('STATUS', 8)} ${pad('ACTIVE', 7)} ${pad('PROCESSED', 10)} ${pad('LOAD', 16)} HEARTBEAT`,
      w,
    ),
  );
  const workers = [...state.workers.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
  for (const wk of workers)
    lines.push(
      pad(
        `${pad(wk.hostname, 32)} ${pad(wk.status, 8)} ${pad(String(wk.active ?? '-'), 7)} ${pad(String(wk.processed ?? '-'), 10)} ${pad((wk.loadavg ?? []).map((n) => n.toFixed(2)).join(' ') || '-', 16)} ${ago(wk.heartbeats[wk.heartbeats.length - 1], o.now)}`,
        w,
      ),
    );
  if (!workers.length) lines.push('(no worker seen yet)');
  lines.push(
    '',
    pad(
      `${pad('TIME', 12)} ${pad('TASK ID', 36)} ${pad('NAME', 24)} ${pad('STATE', 9)} ${pad('RUNTIME', 8)} RESULT`,
      w,
    ),
  );
  const room = Math.max(1, o.height - lines.length - 1);
  for (const t of state.latestTasks(room)) {
    const runtime = t.runtime === null ? '' : `${t.runtime.toFixed(3)}s`;
    lines.push(
      pad(
        `${pad(clock(t.timestamp), 12)} ${pad(t.uuid, 36)} ${pad(t.name ?? '?', 24)} ${pad(t.state, 9)} ${pad(runtime, 8)} ${outcome(t).replace(/\s+/g, ' ')}`,
        w,
      ),
    );
  }
  return lines.join('\n');
}

/** One line for one event (not a terminal). */
export function renderLine(e: CeleryEvent): string {
  const head = `${clock(e.timestamp)} ${e.hostname} ${e.type}`;
  if (e.type.startsWith('worker-'))
    return `${head} active=${e.active ?? '-'} processed=${e.processed ?? '-'} freq=${e.freq ?? '-'}`;
  const parts = [head, String(e.uuid ?? '')];
  for (const k of [
    'name',
    'args',
    'kwargs',
    'result',
    'runtime',
    'exception',
    'requeue',
    'expired',
    'terminated',
  ])
    if (e[k] !== undefined && e[k] !== null)
      parts.push(`${k}=${typeof e[k] === 'string' ? e[k] : JSON.stringify(e[k])}`);
  return parts.join(' ');
}

/** `--dump`: the event as sent (without the receiver's local_received), one JSON object per line. */
export function renderDump(e: CeleryEvent): string {
  const { local_received: _, ...sent } = e;
  return JSON.stringify(sent);
}
