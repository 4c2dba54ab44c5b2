/**
 * The app's plumbing that the worker and canvas need but applications should not call: building and
 * routing messages, publishing them with per-call options. Kept off the public class (whose surface is
 * what users rely on) and reached through `appInternals(app)`; this module is not exported by the package.
 */
import type { WireMessage } from '../protocol/message.js';
import type { SendOptions } from '../task/options.js';
import type { AsyncResult } from '../task/result.js';
import type { AnyTask } from '../task/task.js';

export interface Call {
  name: string;
  args: unknown[];
  options?: SendOptions;
}

export interface AppInternals {
  /** Build the wire message of one call; `task` is its local definition, when there is one. */
  buildMessage(
    name: string,
    args: unknown[],
    options: SendOptions,
    task?: AnyTask,
  ): { id: string; message: WireMessage };
  /** The queue a call goes to: call option, then taskRoutes, then the task's own option, then the default. */
  route(name: string, options: SendOptions, task?: AnyTask): string;
  publish<R>(name: string, args: unknown[], options: SendOptions, task?: AnyTask): Promise<AsyncResult<R>>;
  publishMany<R>(calls: readonly Call[], task?: AnyTask): Promise<AsyncResult<R>[]>;
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
