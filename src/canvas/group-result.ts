/**
 * GroupResult: the handle on a group's results (Celery's `GroupResult`), and Celery's result tuples.
 *  - `get()`/`join()` wait for every member in order and reject with the first failure (in member
 *    order, as Celery's `join` re-raises); `completedCount`, `ready`, `successful`, `failed` read states.
 *  - `save()`/`GroupResult.restore()` go through the backend, which stores Celery's layout
 *    `{"result": [[gid, null], [[[id, null], null], …]]}` (backend.ts `groupResultTuple`), so Python's
 *    `GroupResult.restore(gid)` reads what we save and the reverse.
 *  - `resultFromTuple` turns Celery's result tuples (`[[id, parent_tuple], null]` for a task,
 *    `[[gid, parent_tuple], [member tuples]]` for a group), as stored in a meta's `children`, into
 *    handles; AsyncResult.children uses it (registered below, so task/ does not import canvas/).
 */
import type { ResultBackend } from '../backends/backend.js';
import { ConfigError } from '../errors.js';
import { AsyncResult, type GetOptions, type ResultParent, registerTupleReader } from '../task/result.js';
import { type CanvasApp, type ResultNode, registerResultBuilder } from './signature.js';

export type MemberResult<R> = AsyncResult<R> | GroupResult<unknown>;

export class GroupResult<R = unknown> {
  readonly id: string;
  readonly results: MemberResult<R>[];
  /** The result this group follows in a workflow (a chain's previous step), when known. */
  parent: ResultParent | null;
  readonly #backend: (() => Promise<ResultBackend>) | null;

  constructor(
    id: string,
    results: MemberResult<R>[],
    parent: ResultParent | null = null,
    backend: (() => Promise<ResultBackend>) | null = null,
  ) {
    this.id = id;
    this.results = results;
    this.parent = parent;
    this.#backend = backend;
  }

  /** A group's children are its members (as Celery's). */
  get children(): MemberResult<R>[] {
    return this.results;
  }

  /** Every member's result in order; rejects with the first failure in member order. */
  get(options: GetOptions = {}): Promise<R[]> {
    return this.join(options);
  }

  /** Celery's `join`: wait for each member in turn (a nested group gives its list). */
  async join(options: GetOptions = {}): Promise<R[]> {
    const settled = await Promise.allSettled(this.results.map((r) => r.get(options)));
    const out: R[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      out.push(s.value as R);
    }
    return out;
  }

  async #refresh(): Promise<void> {
    await Promise.all(this.results.map((r) => (r instanceof GroupResult ? r.#refresh() : r.refresh())));
  }
  #leaves(): AsyncResult<unknown>[] {
    return this.results.flatMap((r) => (r instanceof GroupResult ? r.#leaves() : [r]));
  }

  /** How many members succeeded. */
  async completedCount(): Promise<number> {
    await this.#refresh();
    return this.#leaves().filter((r) => r.successful()).length;
  }
  /** Whether every member is ready (succeeded, failed or revoked). */
  async ready(): Promise<boolean> {
    await this.#refresh();
    return this.#leaves().every((r) => r.ready());
  }
  /** Whether every member succeeded. */
  async successful(): Promise<boolean> {
    await this.#refresh();
    return this.#leaves().every((r) => r.successful());
  }
  /** Whether any member failed. */
  async failed(): Promise<boolean> {
    await this.#refresh();
    return this.#leaves().some((r) => r.failed());
  }

  /** Forget every member's result. (The saved group itself stays until it expires: no backend deletes it yet.) */
  async forget(): Promise<void> {
    await Promise.all(this.results.map((r) => r.forget()));
  }

  /** Save the member ids in the backend (Celery's `GroupResult.save()`), under this group's id. */
  async save(options: { expires?: number | null } = {}): Promise<void> {
    if (!this.#backend) throw new ConfigError(`GroupResult ${this.id} has no backend to save to`);
    const backend = await this.#backend();
    await backend.saveGroup(
      this.id,
      this.results.map((r) => r.id),
      { expires: options.expires ?? null },
    );
  }

  /** A saved group by id (Celery's `GroupResult.restore`), or null when none is saved. */
  static async restore<R = unknown>(app: CanvasApp, id: string): Promise<GroupResult<R> | null> {
    const backend = await app.backend();
    const ids = await backend.getGroup(id);
    if (!ids) return null;
    return new GroupResult<R>(
      id,
      ids.map((i) => app.AsyncResult<R>(i)),
      null,
      () => app.backend(),
    );
  }

  toString(): string {
    return this.id;
  }
}

/** Handles for a frozen workflow's result tree. */
export function resultFromNode(
  app: CanvasApp,
  node: ResultNode,
): AsyncResult<unknown> | GroupResult<unknown> {
  const parent = node.parent ? resultFromNode(app, node.parent) : null;
  if (node.members) {
    return new GroupResult(
      node.id,
      node.members.map((m) => resultFromNode(app, m)),
      parent,
      () => app.backend(),
    );
  }
  const r = app.AsyncResult(node.id);
  r.parent = parent;
  return r;
}

/** Celery's `result_from_tuple`: `[[id, parent], null]` or `[[gid, parent], [members]]`. Null if malformed. */
export function resultFromTuple(
  app: CanvasApp,
  t: unknown,
): AsyncResult<unknown> | GroupResult<unknown> | null {
  if (!Array.isArray(t) || t.length < 2) return null;
  const [head, nodes] = t as [unknown, unknown];
  const [id, parentTuple] = Array.isArray(head) ? (head as [unknown, unknown]) : [head, null];
  if (typeof id !== 'string') return null;
  const parent = parentTuple ? resultFromTuple(app, parentTuple) : null;
  if (Array.isArray(nodes)) {
    const members = nodes.map((n) => resultFromTuple(app, n)).filter((m) => m !== null);
    return new GroupResult(id, members, parent, () => app.backend());
  }
  const r = app.AsyncResult(id);
  r.parent = parent;
  return r;
}

registerResultBuilder(resultFromNode);
// AsyncResult knows its backend, not its app: a structural app is enough to build handles from tuples.
registerTupleReader((backend, t) =>
  resultFromTuple(
    {
      conf: { resultExpires: null },
      oid: '',
      tasks: new Map(),
      backend,
      AsyncResult: <R>(id: string) => new AsyncResult<R>(id, backend),
    },
    t,
  ),
);
