/**
 * The live state of the page: seeded from /api/overview and /api/series, then kept up to date by the
 * Server-Sent Events of /api/events.
 *
 * Responsibilities:
 *  - coalesce: every update that arrives between two frames is merged into one pending change (the
 *    latest totals and workers win, series points land in their second, changed tasks are merged by
 *    id), so a burst of events costs one render, not one per message;
 *  - throttle: a render happens on an animation frame and at most FRAMES_PER_SECOND times a second,
 *    whatever the server sends (a hidden tab renders not at all: no animation frames there);
 *  - keep the last WINDOW seconds of series as fixed-length arrays the charts read directly.
 * Subscribers (usePulse) are told after each render-worthy change; they read `live` themselves.
 */
import type {
  OverviewView,
  SeriesPoint,
  SeriesView,
  StallView,
  TaskView,
  Totals,
  UpdateEvent,
  WorkerView,
} from '../api-types.js';
import { api } from './api.js';

/** Seconds of history the charts show (15 minutes). */
export const WINDOW = 900;
const FRAMES_PER_SECOND = 4;
const FRAME_MS = 1000 / FRAMES_PER_SECOND;

export interface Series {
  /** Epoch seconds of each bucket, oldest first. */
  t: number[];
  succeeded: number[];
  failed: number[];
  inFlight: number[];
  queueWaitMs: (number | null)[];
  depth: Record<string, (number | null)[]>;
}

export interface LiveState {
  connected: boolean;
  now: number;
  workers: WorkerView[];
  totals: Totals | null;
  stalls: StallView[];
  series: Series;
  /** Tasks changed since the page started listening, by id (bounded: see TASKS_KEPT). */
  changed: Map<string, TaskView>;
  /** Bumped on every render-worthy change. */
  version: number;
  /** Bumped when a task changed (pages showing tasks re-read then). */
  taskVersion: number;
}

const TASKS_KEPT = 2000;

function emptySeries(): Series {
  return { t: [], succeeded: [], failed: [], inFlight: [], queueWaitMs: [], depth: {} };
}

export const live: LiveState = {
  connected: false,
  now: 0,
  workers: [],
  totals: null,
  stalls: [],
  series: emptySeries(),
  changed: new Map(),
  version: 0,
  taskVersion: 0,
};

interface Pending {
  workers?: WorkerView[];
  totals?: Totals;
  now?: number;
  points: SeriesPoint[];
  tasks: Map<string, TaskView>;
  dirty: boolean;
}

let pending: Pending = { points: [], tasks: new Map(), dirty: false };
const listeners = new Set<() => void>();
let frameAsked = false;
let lastFrame = 0;

export function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function schedule(): void {
  if (frameAsked) return;
  frameAsked = true;
  const wait = Math.max(0, lastFrame + FRAME_MS - performance.now());
  setTimeout(() => requestAnimationFrame(flush), wait);
}

function flush(): void {
  frameAsked = false;
  lastFrame = performance.now();
  const p = pending;
  pending = { points: [], tasks: new Map(), dirty: false };
  if (!p.dirty) return;
  if (p.workers) live.workers = p.workers;
  if (p.totals) live.totals = p.totals;
  if (p.now !== undefined) live.now = p.now;
  for (const point of p.points) addPoint(live.series, point);
  if (p.tasks.size > 0) {
    for (const [id, t] of p.tasks) {
      live.changed.delete(id);
      live.changed.set(id, t);
    }
    while (live.changed.size > TASKS_KEPT) live.changed.delete(live.changed.keys().next().value as string);
    live.taskVersion++;
  }
  live.version++;
  for (const fn of listeners) fn();
}

function markDirty(): void {
  pending.dirty = true;
  schedule();
}

/** Put one second's point in the series: replace its bucket, or append (gaps filled), then trim. */
export function addPoint(s: Series, p: SeriesPoint): void {
  const t = Math.floor(p.t);
  const last = s.t.length > 0 ? (s.t[s.t.length - 1] as number) : null;
  if (last !== null && t < last) {
    const i = s.t.indexOf(t);
    if (i >= 0) setAt(s, i, p);
    return;
  }
  if (last !== null && t === last) {
    setAt(s, s.t.length - 1, p);
    return;
  }
  // Seconds with no point (the page was hidden, the stream reconnected) are drawn as gaps.
  if (last !== null) for (let g = Math.max(last + 1, t - WINDOW); g < t; g++) pushGap(s, g);
  s.t.push(t);
  s.succeeded.push(p.succeeded);
  s.failed.push(p.failed);
  s.inFlight.push(p.inFlight);
  s.queueWaitMs.push(p.queueWaitMs);
  const n = s.t.length;
  for (const [q, v] of Object.entries(p.depth)) {
    let arr = s.depth[q];
    if (!arr) {
      arr = new Array<number | null>(n - 1).fill(null);
      s.depth[q] = arr;
    }
    arr.push(v);
  }
  for (const arr of Object.values(s.depth)) if (arr.length < n) arr.push(null);
  trim(s);
}

function setAt(s: Series, i: number, p: SeriesPoint): void {
  s.succeeded[i] = p.succeeded;
  s.failed[i] = p.failed;
  s.inFlight[i] = p.inFlight;
  s.queueWaitMs[i] = p.queueWaitMs;
  for (const [q, v] of Object.entries(p.depth)) {
    let arr = s.depth[q];
    if (!arr) {
      arr = new Array<number | null>(s.t.length).fill(null);
      s.depth[q] = arr;
    }
    arr[i] = v;
  }
}

function pushGap(s: Series, t: number): void {
  s.t.push(t);
  s.succeeded.push(0);
  s.failed.push(0);
  s.inFlight.push(s.inFlight[s.inFlight.length - 1] ?? 0);
  s.queueWaitMs.push(null);
  for (const arr of Object.values(s.depth)) arr.push(arr[arr.length - 1] ?? null);
}

function trim(s: Series): void {
  const extra = s.t.length - WINDOW;
  if (extra <= 0) return;
  s.t.splice(0, extra);
  s.succeeded.splice(0, extra);
  s.failed.splice(0, extra);
  s.inFlight.splice(0, extra);
  s.queueWaitMs.splice(0, extra);
  for (const arr of Object.values(s.depth)) arr.splice(0, extra);
}

export function seriesFrom(v: SeriesView): Series {
  const n = v.succeeded.length;
  const t = Array.from({ length: n }, (_, i) => Math.floor(v.start) + i * v.step);
  const depth: Record<string, (number | null)[]> = {};
  for (const [q, arr] of Object.entries(v.depth)) depth[q] = [...arr];
  return {
    t,
    succeeded: [...v.succeeded],
    failed: [...v.failed],
    inFlight: [...v.inFlight],
    queueWaitMs: [...v.queueWaitMs],
    depth,
  };
}

function applyOverview(o: OverviewView): void {
  live.now = o.now;
  live.workers = o.workers;
  live.totals = o.totals;
  live.stalls = o.stalls;
}

/** Re-read what the stream does not carry (stalls) and everything after a reconnect. */
export async function reseed(): Promise<void> {
  const [o, s] = await Promise.all([api.overview(), api.series(WINDOW)]);
  applyOverview(o);
  live.series = seriesFrom(s);
  markDirty();
}

let source: EventSource | null = null;
let stallTimer: ReturnType<typeof setInterval> | null = null;

export function start(): void {
  if (source) return;
  reseed().catch(() => undefined);
  source = new EventSource('api/events', { withCredentials: true });
  let opened = false;
  source.addEventListener('open', () => {
    live.connected = true;
    // After a drop the stream resumes from now: fetch the seconds we missed.
    if (opened) reseed().catch(() => undefined);
    opened = true;
    markDirty();
  });
  source.addEventListener('error', () => {
    live.connected = false;
    markDirty();
  });
  source.addEventListener('update', (e) => {
    let u: UpdateEvent;
    try {
      u = JSON.parse((e as MessageEvent<string>).data) as UpdateEvent;
    } catch {
      return;
    }
    if (u.workers) pending.workers = u.workers;
    pending.totals = u.totals;
    pending.now = u.now;
    if (u.point) pending.points.push(u.point);
    for (const t of u.tasks ?? []) pending.tasks.set(t.id, t);
    markDirty();
  });
  // Stalls are not in the stream (they change rarely): poll them slowly.
  stallTimer = setInterval(() => {
    api
      .overview()
      .then((o) => {
        live.stalls = o.stalls;
        markDirty();
      })
      .catch(() => undefined);
  }, 10_000);
}

export function stop(): void {
  source?.close();
  source = null;
  if (stallTimer) clearInterval(stallTimer);
}
