/**
 * Celery's iteration built-ins, as the dicts Celery 5.2 writes (test/fixtures/canvas/signatures.json):
 *  - `task.map(xs)`: task `celery.map`, args `[]`, kwargs `{task: <sig>, it: xs}`: one task that calls
 *    the signature once per item, in the worker's process, and returns the list;
 *  - `task.starmap(pairs)`: task `celery.starmap`, kwargs `{task, it}`, each item spread as arguments;
 *  - `task.chunks(items, n)`: task `celery.chunks`, kwargs `{task, it, n}`; applied from here, it is a
 *    group of `celery.starmap` tasks of at most n items each (Celery's client does the same), so its
 *    handle is a GroupResult of lists.
 * All three are immutable, and their `subtask_type` is null on the wire (Celery 5.2 recognises them by
 * class, not by that field); `fromJson` recognises them by task name. The worker side registers the
 * `celery.map`, `celery.starmap` and `celery.chunks` tasks. Applying map/starmap routes the message as
 * the inner task would be routed (Celery's `route_name`), unless a queue is set.
 */
import { ConfigError } from '../errors.js';
import type { SignatureJson } from '../protocol/message.js';
import { appInternals } from '../task/publisher.js';
import type { AsyncResult } from '../task/result.js';
import { Group } from './group.js';
import type { GroupResult } from './group-result.js';
import {
  type AnySignature,
  type CanvasApp,
  type Placement,
  type ResultNode,
  registerSignatureType,
  Signature,
  toSignature,
} from './signature.js';

/** `celery.map` / `celery.starmap`: one task applying `task` to every item. */
export class MapSignature<R = unknown> extends Signature<R[], unknown, AsyncResult<R[]>> {
  constructor(
    name: 'celery.map' | 'celery.starmap',
    task: SignatureJson,
    it: readonly unknown[],
    options: Record<string, unknown> = {},
    app: CanvasApp | null = null,
  ) {
    super(name, [], { task: toSignature(task, app), it: [...it] }, options, { immutable: true, app });
  }
  protected override memberApp(): CanvasApp | null {
    return (this.kwargs.task as AnySignature).app;
  }
  override async run(app: CanvasApp, _partial: readonly unknown[], p: Placement): Promise<ResultNode> {
    const inner = (this.kwargs.task as AnySignature).task;
    if (typeof this.options.queue !== 'string')
      this.options.queue = appInternals(app).route(inner, {}, app.tasks.get(inner));
    // Immutable: the partial arguments of an enclosing chain are not prepended (as Celery's).
    return super.run(app, [], p);
  }
}

/** `celery.chunks`: `it` split into parts of `n`, each a `celery.starmap` task, applied as a group. */
export class Chunks<R = unknown> extends Signature<R[][], unknown, GroupResult<R[]>> {
  constructor(
    task: SignatureJson,
    it: readonly (readonly unknown[])[],
    n: number,
    options: Record<string, unknown> = {},
    app: CanvasApp | null = null,
  ) {
    if (!Number.isInteger(n) || n < 1)
      throw new ConfigError(`chunks(items, n): n must be a positive integer, got ${n}`);
    super('celery.chunks', [], { task: toSignature(task, app), it: [...it], n }, options, {
      immutable: true,
      app,
    });
  }
  override get plain(): boolean {
    return false;
  }
  protected override memberApp(): CanvasApp | null {
    return (this.kwargs.task as AnySignature).app;
  }
  /** The group of starmap parts (Celery's `chunks.group()`). */
  group(): Group<R[]> {
    const task = this.kwargs.task as AnySignature;
    const it = this.kwargs.it as unknown[];
    const n = this.kwargs.n as number;
    const parts: MapSignature<R>[] = [];
    for (let i = 0; i < it.length; i += n)
      parts.push(new MapSignature<R>('celery.starmap', task, it.slice(i, i + n), {}, task.app));
    return new Group<R[]>(parts, { ...this.options });
  }
  override run(app: CanvasApp, _partial: readonly unknown[], p: Placement): Promise<ResultNode> {
    return this.group().run(app, [], p);
  }
}

const parts = (d: SignatureJson): { task: SignatureJson; it: unknown[] } => {
  const k = d.kwargs as { task?: unknown; it?: unknown };
  if (!k.task || typeof k.task !== 'object') throw new ConfigError(`a ${d.task} signature needs kwargs.task`);
  if (!Array.isArray(k.it)) throw new ConfigError(`a ${d.task} signature needs kwargs.it (a list)`);
  return { task: k.task as SignatureJson, it: k.it };
};
registerSignatureType(
  'xmap',
  (d, app) => {
    const { task, it } = parts(d);
    return new MapSignature('celery.map', task, it, d.options, app);
  },
  'celery.map',
);
registerSignatureType(
  'xstarmap',
  (d, app) => {
    const { task, it } = parts(d);
    return new MapSignature('celery.starmap', task, it, d.options, app);
  },
  'celery.starmap',
);
registerSignatureType(
  'chunks',
  (d, app) => {
    const { task, it } = parts(d);
    const n = (d.kwargs as { n?: unknown }).n;
    return new Chunks(task, it as unknown[][], typeof n === 'number' ? n : Number.NaN, d.options, app);
  },
  'celery.chunks',
);
