/**
 * The app's publishing plumbing that the worker and canvas need but applications should not call:
 * building and routing messages, publishing them with per-call options. Kept off the public class (whose
 * surface is what users rely on) and reached through `appInternals(app)`; the package does not export
 * this module. It lives below app/ so that the worker and canvas reach it without importing the app.
 */
import type { WireMessage } from '../protocol/message.js';
import type { SendOptions, TaskOptions } from './options.js';
import type { AsyncResult } from './result.js';

/** What publishing reads of a task definition (its defaults for queue, priority, ignoreResult). */
export interface PublishedTask {
  readonly name: string;
  readonly options: Readonly<TaskOptions>;
}

export interface Call {
  name: string;
  args: unknown[];
  options?: SendOptions;
}

/** What a Task needs from its app: publishing (task/ never imports app/). */
export interface TaskPublisher {
  publish<R>(
    name: string,
    args: unknown[],
    options: SendOptions,
    task?: PublishedTask,
  ): Promise<AsyncResult<R>>;
  publishMany<R>(calls: readonly Call[], task?: PublishedTask): Promise<AsyncResult<R>[]>;
}

export interface AppInternals extends TaskPublisher {
  /** Build the wire message of one call; `task` is its local definition, when there is one. */
  buildMessage(
    name: string,
    args: unknown[],
    options: SendOptions,
    task?: PublishedTask,
  ): { id: string; message: WireMessage };
  /** The queue a call goes to: call option, then taskRoutes, then the task's own option, then the default. */
  route(name: string, options: SendOptions, task?: PublishedTask): string;
}

const internals = new WeakMap<object, AppInternals>();

export function bindInternals(app: object, i: AppInternals): void {
  internals.set(app, i);
}

export function appInternals(app: object): AppInternals {
  const i = internals.get(app);
  if (!i) throw new TypeError('not a Celeriac app');
  return i;
}
