/**
 * A task definition: a name, a function and the options it owns. Calling `delay`/`applyAsync` publishes a
 * Celery message through the app; the function itself runs in a worker (or locally with `run`).
 */
import type { SignatureJson } from '../protocol/message.js';
import type { SendOptions, TaskOptions } from './options.js';
import type { TaskPublisher } from './publisher.js';
import type { AsyncResult } from './result.js';

// biome-ignore lint/suspicious/noExplicitAny: task functions take any argument list
export type TaskFn = (...args: any[]) => unknown;
// biome-ignore lint/suspicious/noExplicitAny: a registry holds tasks of every signature
export type AnyTask = Task<any>;

export class Task<F extends TaskFn> {
  readonly name: string;
  readonly fn: F;
  readonly options: Readonly<TaskOptions>;
  readonly #app: TaskPublisher;

  constructor(app: TaskPublisher, name: string, fn: F, options: TaskOptions) {
    this.#app = app;
    this.name = name;
    this.fn = fn;
    this.options = Object.freeze({ ...options });
  }

  /** Publish with positional arguments. Resolves once the broker accepted the message. */
  delay(...args: Parameters<F>): Promise<AsyncResult<Awaited<ReturnType<F>>>> {
    return this.#app.publish(this.name, args, {}, this);
  }

  /** Publish with options (countdown, eta, expires, queue, priority, kwargs …). */
  applyAsync(
    args: Parameters<F> | unknown[] = [],
    options: SendOptions = {},
  ): Promise<AsyncResult<Awaited<ReturnType<F>>>> {
    return this.#app.publish(this.name, args as unknown[], options, this);
  }

  /** Publish many calls in as few broker round trips as the transport allows. */
  applyMany(
    calls: ReadonlyArray<Parameters<F> | unknown[]>,
    options: SendOptions = {},
  ): Promise<AsyncResult<Awaited<ReturnType<F>>>[]> {
    return this.#app.publishMany(
      calls.map((args) => ({ name: this.name, args: args as unknown[], options })),
      this,
    );
  }

  /** Run the function here, now, without a broker (tests, scripts). */
  run(...args: Parameters<F>): ReturnType<F> {
    return this.fn(...args) as ReturnType<F>;
  }

  /** A signature (Celery's `task.s(...)`) for links and chains. */
  s(...args: unknown[]): SignatureJson {
    return { task: this.name, args, kwargs: {}, options: {}, subtask_type: null, immutable: false };
  }

  /** An immutable signature (`task.si(...)`): the parent's result is not prepended. */
  si(...args: unknown[]): SignatureJson {
    return { ...this.s(...args), immutable: true };
  }
}
