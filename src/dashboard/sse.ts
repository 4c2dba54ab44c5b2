/**
 * Live updates over Server-Sent Events (`GET /api/events`). The server coalesces: one timer, running
 * only while a client is connected, every 250 ms gathers the tasks changed since the last update (at
 * most MAX_TASKS of them, the newest) and whether any worker changed, and writes one `update` event to
 * every client; with nothing changed it still writes one a second (the chart's point and the totals).
 * So at 1,000 events/s a client gets 4 messages a second, not 1,000. A client that goes away is dropped
 * at once (its `close`), and the timer stops with the last one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SeriesPoint, UpdateEvent } from './api-types.js';
import type { DashboardModel } from './model.js';

const FLUSH_MS = 250;
const IDLE_EVERY = 4;
const MAX_TASKS = 200;

export class SseHub {
  readonly #model: DashboardModel;
  readonly #clients = new Set<ServerResponse>();
  #timer: NodeJS.Timeout | null = null;
  #quiet = 0;

  constructor(model: DashboardModel) {
    this.#model = model;
  }

  get clients(): number {
    return this.#clients.size;
  }

  open(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): void {
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tell nginx not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    if (!this.#clients.size) this.#model.store.takeChanges(0); // start from now
    this.#clients.add(res);
    const drop = () => {
      this.#clients.delete(res);
      if (!this.#clients.size) this.#stop();
    };
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
    this.#send(res, this.#update(true));
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#flush(), FLUSH_MS);
      this.#timer.unref();
    }
  }

  #point(): SeriesPoint {
    const w = this.#model.series.read(2);
    const depth: Record<string, number> = {};
    for (const [q, v] of Object.entries(w.depth)) depth[q] = v[0] ?? 0;
    return {
      t: w.start,
      succeeded: w.succeeded[0] ?? 0,
      failed: w.failed[0] ?? 0,
      inFlight: w.inFlight[0] ?? 0,
      queueWaitMs: w.queueWaitMs[0] ?? null,
      depth,
    };
  }

  #update(full: boolean): UpdateEvent | null {
    const m = this.#model;
    // A new client's first update takes no changes: the others still have to get them.
    const { tasks, workers } = full ? { tasks: [], workers: true } : m.store.takeChanges(MAX_TASKS);
    if (!full && !tasks.length && !workers && ++this.#quiet < IDLE_EVERY) return null;
    this.#quiet = 0;
    return {
      now: m.now(),
      ...(full || workers ? { workers: m.workers() } : {}),
      ...(tasks.length ? { tasks } : {}),
      totals: m.store.totals(),
      point: this.#point(),
    };
  }

  #send(res: ServerResponse, u: UpdateEvent | null): void {
    if (u) res.write(`event: update\ndata: ${JSON.stringify(u)}\n\n`);
  }

  #flush(): void {
    const u = this.#update(false);
    if (!u) return;
    const frame = `event: update\ndata: ${JSON.stringify(u)}\n\n`;
    for (const res of this.#clients) res.write(frame);
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  close(): void {
    this.#stop();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }
}
