/**
 * A task definition: a name, a function and the options it owns. Calling `delay`/`applyAsync` publishes a
 * Celery message through the app; the function itself runs in a worker (or locally with `run`).
 * `s`/`si`/`map`/`starmap`/`chunks` build canvas signatures (canvas/signature.ts, a leaf module that
 * imports nothing of app/ or task/task.ts, so this import makes no circle).
 */
import { Chunks, MapSignature } from '../canvas/map.js';
import { type CanvasApp, type Complete, Signature } from '../canvas/signature.js';
import type { SendOptions, TaskOptions } from './options.js';
import type { TaskPublisher } from './publisher.js';
import type { AsyncResult } from './result.js';

// biome-ignore lint/suspicious/noExplicitAny: task functions take any argument list
export type TaskFn = (...args: any[]) => unknown;
// biome-ignore lint/suspicious/noExplicitAny: a registry holds tasks of every signature
export type AnyTask = Task<any>;

type Result<F extends TaskFn> = Awaited<ReturnType<F>>;
/** The parameters after the first: what `s()` is given when a chain prepends the first. */
type Rest<F extends TaskFn> = Parameters<F> extends [unknown, ...infer T] ? T : never;
type First<F extends TaskFn> = Parameters<F> extends [infer A, ...unknown[]] ? A : never;
/** A tuple and every shorter prefix of it: the positional part of a call whose kwargs give the rest. */
type Prefix<T extends readonly unknown[]> = T extends readonly [...infer Init, unknown]
  ? T | Prefix<Init>
  : T;
/** `applyAsync`'s arguments: every parameter, typed; a task without parameters may leave them out. */
type ApplyArgs<F extends TaskFn> =
  Parameters<F> extends []
    ? [args?: [], options?: SendOptions]
    : [args: Parameters<F>, options?: SendOptions];

export class Task<F extends TaskFn> {
  readonly name: string;
  readonly fn: F;
  readonly options: Readonly<TaskOptions>;
  readonly #app: TaskPublisher;
  readonly #canvas: CanvasApp | null;

  constructor(
    app: TaskPublisher,
    name: string,
    fn: F,
    options: TaskOptions,
    canvas: CanvasApp | null = null,
  ) {
    this.#app = app;
    this.#canvas = canvas;
    this.name = name;
    this.fn = fn;
    this.options = Object.freeze({ ...options });
  }

  /** Publish with positional arguments. Resolves once the broker accepted the message. */
  delay(...args: Parameters<F>): Promise<AsyncResult<Awaited<ReturnType<F>>>> {
    return this.#app.publish(this.name, args, {}, this);
  }

  /**
   * Publish with options (countdown, eta, expires, queue, priority, kwargs …). The arguments are checked
   * against the function's parameters; with `kwargs`, the positional ones may stop early and the
   * keyword ones fill the rest (by `params` names, checked by the worker). To send what the types cannot
   * know (a task defined in Python, arguments built at run time), use `app.sendTask(name, args, kwargs)`.
   */
  applyAsync(...call: ApplyArgs<F>): Promise<AsyncResult<Awaited<ReturnType<F>>>>;
  applyAsync(
    args: Prefix<Parameters<F>>,
    options: SendOptions & { kwargs: Record<string, unknown> },
  ): Promise<AsyncResult<Awaited<ReturnType<F>>>>;
  applyAsync(
    args: readonly unknown[] = [],
    options: SendOptions = {},
  ): Promise<AsyncResult<Awaited<ReturnType<F>>>> {
    return this.#app.publish(this.name, args as unknown[], options, this);
  }

  /** Publish many calls in as few broker round trips as the transport allows; each is checked as `delay`'s. */
  applyMany(
    calls: ReadonlyArray<Parameters<F>>,
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

  /**
   * A signature (Celery's `task.s(...)`) for links, chains, groups and chords. Given every argument it
   * is complete (a chain may not prepend to it); given all but the first, a chain, chord or callback
   * prepends the previous result as the first argument, and the types check that it fits.
   */
  s(...args: Parameters<F>): Signature<Result<F>, Complete>;
  s(...args: Rest<F>): Signature<Result<F>, First<F>>;
  s(...args: unknown[]): Signature<Result<F>, unknown> {
    return new Signature<Result<F>, unknown>(this.name, args, {}, {}, { app: this.#canvas });
  }

  /** An immutable signature (`task.si(...)`): the parent's result is not prepended. */
  si(...args: Parameters<F>): Signature<Result<F>, unknown> {
    return new Signature<Result<F>, unknown>(this.name, args, {}, {}, { immutable: true, app: this.#canvas });
  }

  /** `celery.map`: one task calling this one for every item of `it` (Celery's `task.map`). */
  map(it: readonly First<F>[]): MapSignature<Result<F>> {
    return new MapSignature<Result<F>>('celery.map', this.#bare(), it, {}, this.#canvas);
  }

  /** `celery.starmap`: one task calling this one with each item spread as arguments (`task.starmap`). */
  starmap(it: readonly Parameters<F>[]): MapSignature<Result<F>> {
    return new MapSignature<Result<F>>('celery.starmap', this.#bare(), it, {}, this.#canvas);
  }

  /** `celery.chunks`: `it` in parts of `n`, each part one starmap task, applied as a group (`task.chunks`). */
  chunks(it: readonly Parameters<F>[], n: number): Chunks<Result<F>> {
    return new Chunks<Result<F>>(this.#bare(), it, n, {}, this.#canvas);
  }

  #bare(): Signature {
    return new Signature(this.name, [], {}, {}, { app: this.#canvas });
  }
}
