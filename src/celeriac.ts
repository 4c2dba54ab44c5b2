/**
 * `Celeriac`, the class applications create: the app (app/app.ts) with the built-in middleware and
 * Celery's built-in tasks (worker/builtin-tasks.ts), and the
 * parts that build on an app from above (workers, canvas). This is the one module that puts them
 * together, so app/ imports neither worker/ nor canvas/ and the import graph has no circle.
 */
import { App, type CeleriacOptions } from './app/app.js';
import {
  applyChain,
  applyGroup,
  type GroupResult,
  type Signature,
  type SignatureOptions,
  signature,
} from './canvas/index.js';
import { type DashboardHandler, type DashboardOptions, dashboardHandler } from './dashboard/server.js';
import { builtinMiddleware } from './middleware/index.js';
import type { SignatureJson } from './protocol/message.js';
import type { AsyncResult } from './task/result.js';
import { registerBuiltinTasks } from './worker/builtin-tasks.js';
import { Worker, type WorkerOptions } from './worker/worker.js';

export type { CeleriacOptions } from './app/app.js';

export class Celeriac extends App {
  constructor(options: CeleriacOptions = {}) {
    super(options, builtinMiddleware({ host: () => this, sentEvents: options.taskSendSentEvent === true }));
    // Celery's celery.* tasks (chord, group, chord_unlock, map, starmap, chunks …), so Python canvases
    // that name them run on our workers.
    registerBuiltinTasks(this);
  }

  /** A worker bound to this app; call `start()` on it. */
  worker(options: WorkerOptions = {}): Worker {
    return new Worker(this, options);
  }

  /**
   * The built-in dashboard as a Node request handler, to mount under a path of an existing server
   * (node:http with `prefix`, express's `app.use('/dashboard', h)`, fastify's raw server); docs/dashboard.md.
   * It subscribes to events at the first request (or `await h.start()`); `await h.close()` stops it.
   */
  dashboard(options: DashboardOptions = {}): DashboardHandler {
    return dashboardHandler(this, options);
  }

  /** Publish signatures as a group (`task.s(...)` each, or Celery dicts); resolves to a GroupResult. The
   * canvas functions (`group(...)`, `chain(...)`, `chord(...)` from 'celeriac') are the typed way. */
  group<R = unknown>(
    sigs: readonly SignatureJson[],
    options: { groupId?: string } = {},
  ): Promise<GroupResult<R>> {
    return applyGroup<R>(this, sigs, options);
  }

  /** Publish signatures as a chain; resolves to the last step's result. */
  chain<R = unknown>(sigs: readonly SignatureJson[]): Promise<AsyncResult<R>> {
    return applyChain<R>(this, sigs);
  }

  /** A signature by name bound to this app (Celery's `app.signature`), e.g. of a task defined in Python. */
  signature<R = unknown>(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: SignatureOptions = {},
    // biome-ignore lint/suspicious/noExplicitAny: nothing is known of the input of a task by name
  ): Signature<R, any> {
    return signature<R>(name, args, kwargs, options, this);
  }
}
