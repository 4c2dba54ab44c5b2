/**
 * group: signatures applied in parallel (Celery's `group`, sent as the dict `{"task": "celery.group",
 * "kwargs": {"tasks": [...]}, "subtask_type": "group"}`).
 *
 * Applied, every member is published with header `group` = the group id, and the GroupResult is saved
 * in the backend when it keeps groups (Celery's client saves only on `.save()`; we save up front so
 * any client, Python's `GroupResult.restore` too, finds it by id). Plain group members carry no
 * `group_index`, as Celery's; chord header members do (chord.ts). Nested groups are unrolled into one.
 * A chain member gets the group id on its last step only (the step whose result is the member's),
 * as Celery does: its first step is published without a `group` header.
 *
 * Frozen inside a chain (a group as a chain's last step), the dict carries the group id as
 * `options.task_id` and each member its `task_id` and `group_index`: a worker runs it as Celery's
 * built-in `celery.group` task.
 */

import { ConfigError } from '../errors.js';
import { groupTuple, type ResultTuple, resultTuple } from '../protocol/canvas.js';
import type { SignatureJson } from '../protocol/message.js';
import { uuid } from '../protocol/oid.js';
import { type TrailingContext, taskStorage } from '../task/context.js';
import { appInternals, type Call } from '../task/publisher.js';
import { signatureCall } from '../task/signature.js';
import { Composite } from './composite.js';
import type { GroupResult } from './group-result.js';
import {
  type AnySignature,
  type CanvasApp,
  type InputOf,
  type Placement,
  type ResultNode,
  type ResultOf,
  registerSignatureType,
  toSignature,
} from './signature.js';

export class Group<R = unknown, In = unknown> extends Composite<R[], In, GroupResult<R>> {
  constructor(
    tasks: readonly SignatureJson[],
    options: Record<string, unknown> = {},
    app: CanvasApp | null = null,
  ) {
    super('celery.group', 'group', tasks, options, app);
  }
  protected override setImmutable(immutable: boolean): void {
    for (const t of this.tasks) t.immutable = immutable;
  }

  /**
   * Celery's `group.link`: the callback goes on the first member, immutable (that member cannot pass
   * its siblings' results). To run something after all of them, use a chord.
   */
  override link(callback: SignatureJson): this {
    const c = this.clone();
    const [first, ...rest] = c.tasks;
    if (first) c.kwargs.tasks = [first.link(toSignature(callback).set({ immutable: true })), ...rest];
    return c;
  }
  /** Celery's `group.link_error`: on every member (any of them may fail). */
  override linkError(errback: SignatureJson): this {
    const c = this.clone();
    c.kwargs.tasks = c.tasks.map((t) => t.linkError(errback));
    return c;
  }

  /** Members with nested groups unrolled, as Celery's `_freeze_unroll`/`_prepared` do. */
  unrolled(): AnySignature[] {
    return this.tasks.flatMap((t) => (t instanceof Group ? t.unrolled() : [t]));
  }

  override freeze(p: Placement = {}): ResultNode {
    const o = this.options;
    if (typeof o.task_id !== 'string' || !o.task_id) o.task_id = p.groupId ?? uuid();
    if (p.groupId) o.group_id = p.groupId;
    if (p.chord) o.chord = p.chord;
    if (p.groupIndex !== undefined) o.group_index = p.groupIndex;
    if (!('root_id' in o)) o.root_id = p.rootId ?? null;
    if (!('parent_id' in o)) o.parent_id = p.parentId ?? null;
    const members = this.unrolled();
    this.kwargs.tasks = members;
    const nodes = members.map((m, i) =>
      m.freeze({
        ...(p.groupId ? { groupId: p.groupId } : {}),
        ...(p.chord ? { chord: p.chord } : {}),
        rootId: (o.root_id as string | null) ?? null,
        parentId: (o.parent_id as string | null) ?? null,
        groupIndex: i,
      }),
    );
    return { id: o.task_id as string, parent: null, members: nodes };
  }

  override async run(app: CanvasApp, partial: readonly unknown[], p: Placement): Promise<ResultNode> {
    const gid = p.taskId ?? (typeof this.options.task_id === 'string' ? this.options.task_id : uuid());
    // Sent from inside a task, a group is one child of that task (its GroupResult tuple, as Celery's
    // add_trail records it), not one child per member: the members' own records are replaced by it.
    const ctx = taskStorage.getStore() as Partial<TrailingContext> | undefined;
    const before = ctx?.children?.length ?? 0;
    const node = await this.runMembers(app, partial, gid, p, null);
    const trail = ctx?.children;
    if (trail) trail.splice(before, trail.length - before, nodeTuple(node));
    const backend = await app.backend();
    if (backend.capabilities.groups)
      await backend.saveGroup(
        gid,
        (node.members ?? []).map((m) => m.id),
        { expires: app.conf.resultExpires },
      );
    return node;
  }

  /**
   * Publish every (unrolled) member in order with `group_id` = `gid`; with a chord body, also
   * `chord` and `group_index` (a chord's header). Plain members go out in batches (one broker round
   * trip where the transport allows); composite members publish themselves.
   */
  async runMembers(
    app: CanvasApp,
    partial: readonly unknown[],
    gid: string,
    p: Placement,
    chordBody: AnySignature | null,
  ): Promise<ResultNode> {
    const nodes: ResultNode[] = [];
    let batch: Call[] = [];
    const flush = async () => {
      if (batch.length) await appInternals(app).publishMany(batch);
      batch = [];
    };
    const members = this.unrolled();
    for (const [i, member] of members.entries()) {
      const m = member.clone();
      const placement: Placement = {
        groupId: gid,
        ...(p.rootId ? { rootId: p.rootId } : {}),
        ...(p.parentId ? { parentId: p.parentId } : {}),
        ...(p.kwargs ? { kwargs: p.kwargs } : {}),
        ...(chordBody ? { chord: chordBody, groupIndex: i } : {}),
      };
      if (m.plain) {
        nodes.push(m.freeze(placement));
        const extra = p.kwargs && !m.immutable ? { kwargs: p.kwargs } : {};
        batch.push(signatureCall(m, partial, extra));
      } else {
        await flush();
        nodes.push(await m.run(app, partial, placement));
      }
    }
    await flush();
    return { id: gid, parent: null, members: nodes };
  }
}

/**
 * Apply signatures in parallel: `group(add.s(1, 1), add.s(2, 2))` (or one array). Resolves to a
 * GroupResult whose `get()` gives the results in member order. Types: the element type is the union
 * of the members' results (a tuple per position is not expressed), and what a chain prepends must fit
 * at least one member's first parameter (every member's is not expressed).
 */
export function group<const S extends readonly AnySignature[]>(
  ...tasks: S | [S]
): Group<ResultOf<S[number]>, InputOf<S[number]>> {
  const list = (tasks.length === 1 && Array.isArray(tasks[0]) ? tasks[0] : tasks) as readonly AnySignature[];
  return new Group(list);
}

registerSignatureType('group', (d, app) => {
  const tasks = (d.kwargs as { tasks?: unknown }).tasks;
  if (!Array.isArray(tasks)) throw new ConfigError('a celery.group signature needs kwargs.tasks (a list)');
  const g = new Group(tasks as SignatureJson[], d.options, app);
  g.immutable = d.immutable;
  return g;
});

/** A published node as Celery's result tuple: a task, or a group with its members. */
function nodeTuple(node: ResultNode): ResultTuple {
  if (node.members) return groupTuple(node.id, node.members.map(nodeTuple));
  return node.parent ? [[node.id, nodeTuple(node.parent)], null] : resultTuple(node.id);
}
