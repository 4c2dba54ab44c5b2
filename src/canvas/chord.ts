/**
 * chord: a header group, then a body applied with the list of the header's results (Celery's `chord`,
 * the dict `{"task": "celery.chord", "kwargs": {"kwargs": {}, "header": [...], "body": {...}},
 * "subtask_type": "chord"}`).
 *
 * Applied (celery-wire.md §4.3, §4.4):
 *  1. the backend must support chords: `capabilities.chords === false` (rpc://) refuses, as Celery's
 *     "Starting chords requires a result backend that supports them";
 *  2. the body's task id is fixed; its options carry `group_id` = the header's group id (Celery 5.6 does
 *     so; 5.2 leaves it out, and neither reads it back);
 *  3. `backend.prepareChord(gid, size)` before anything is published (Redis: the `.s` key), where size
 *     counts what completes the chord (Celery's `_descend`: a nested group its members, a chain its last
 *     step, a nested chord its body);
 *  4. on a backend that cannot count (`chords: 'unlock'`), the group is saved and Celery's
 *     `celery.chord_unlock` task is sent to poll it (Celery's `fallback_chord_unlock`);
 *  5. every header member goes out with `group` = gid, `group_index` = i and `embed.chord` = the body.
 * An empty header applies the body at once with `[]`, as Celery.
 *
 * A chord inside a chain (or a group followed by a step, which Celery turns into a chord) travels frozen
 * in `embed.chain`: the header as a `celery.group` dict whose members have their ids, `chord` and
 * `group_index`; a worker runs it as Celery's built-in `celery.chord` task.
 */
import { ConfigError } from '../errors.js';
import type { SignatureJson } from '../protocol/message.js';
import { uuid } from '../protocol/oid.js';
import { appInternals } from '../task/publisher.js';
import type { AsyncResult } from '../task/result.js';
import { Group } from './group.js';
import {
  type AnySignature,
  type CanvasApp,
  type InputOf,
  type Placement,
  type ResultNode,
  type ResultOf,
  registerSignatureType,
  Signature,
  toSignature,
} from './signature.js';

export class Chord<R = unknown, In = unknown> extends Signature<R, In, AsyncResult<R>> {
  constructor(
    header: Group | readonly SignatureJson[],
    body: SignatureJson | null,
    options: Record<string, unknown> = {},
    app: CanvasApp | null = null,
    kwargs: Record<string, unknown> = {},
  ) {
    super(
      'celery.chord',
      [],
      {
        kwargs,
        header: header instanceof Group ? header : header.map((t) => toSignature(t, app)),
        body: body === null || body === undefined ? null : toSignature(body, app),
      },
      options,
      { subtask_type: 'chord', app },
    );
  }

  /** The header as a group (a copy when it is held as a list, as Celery's dict has it until frozen). */
  get header(): Group {
    const h = this.kwargs.header;
    return h instanceof Group ? h : new Group((h as AnySignature[]) ?? []);
  }
  get body(): AnySignature | null {
    return (this.kwargs.body as AnySignature | null) ?? null;
  }
  override get plain(): boolean {
    return false;
  }
  protected override memberApp(): CanvasApp | null {
    return this.header.app ?? this.body?.app ?? null;
  }
  protected override setImmutable(immutable: boolean): void {
    // Celery: the header's mutability only, not the callback's.
    for (const t of this.header.tasks) t.immutable = immutable;
  }
  /** Celery: a chord's link and link_error go on its body. */
  override link(callback: SignatureJson): this {
    const c = this.clone();
    c.kwargs.body = needBody(c).link(callback);
    return c;
  }
  override linkError(errback: SignatureJson): this {
    const c = this.clone();
    c.kwargs.body = needBody(c).linkError(errback);
    return c;
  }

  override freeze(p: Placement = {}): ResultNode {
    const header = this.header;
    this.kwargs.header = header;
    const body = needBody(this);
    const bodyNode = body.freeze({
      ...(p.taskId ? { taskId: p.taskId } : {}),
      ...(p.rootId ? { rootId: p.rootId } : {}),
      ...(p.chord ? { chord: p.chord } : {}),
      ...(p.groupId ? { groupId: p.groupId } : {}),
      ...(p.groupIndex !== undefined ? { groupIndex: p.groupIndex } : {}),
    });
    const headerNode = header.freeze({
      ...(p.parentId ? { parentId: p.parentId } : {}),
      ...(p.rootId ? { rootId: p.rootId } : {}),
      chord: body,
    });
    rootOf(bodyNode).parent = headerNode;
    this.options.task_id = header.options.task_id;
    return bodyNode;
  }

  override async run(app: CanvasApp, partial: readonly unknown[], p: Placement): Promise<ResultNode> {
    await ensureChordsAllowed(app);
    let body = needBody(this).clone();
    const header = this.header;
    const gid = typeof header.options.task_id === 'string' ? header.options.task_id : uuid();
    if (p.chain?.length) {
      // What follows the chord in a chain runs after its body (Celery puts it in the body's options).
      body = body.clone([], {}, { chain: [...p.chain] });
    }
    const bodyNode = body.freeze({
      ...(p.taskId ? { taskId: p.taskId } : {}),
      groupId: p.groupId ?? gid,
      ...(p.rootId ? { rootId: p.rootId } : {}),
      ...(p.chord ? { chord: p.chord } : {}),
      ...(p.groupIndex !== undefined ? { groupIndex: p.groupIndex } : {}),
    });
    const members = header.unrolled();
    if (!members.length) {
      await body.run(app, [[]], {});
      rootOf(bodyNode).parent = { id: gid, parent: null, members: [] };
      return bodyNode;
    }
    const backend = await app.backend();
    const size = members.reduce((n, m) => n + chordSize(m), 0);
    // Read defensively: the contract's optional method (the worker side implements it per backend).
    const prepare = (backend as { prepareChord?: (gid: string, size: number, o: object) => Promise<void> })
      .prepareChord;
    await prepare?.call(backend, gid, size, { expires: app.conf.resultExpires });
    const headerNode = await header.runMembers(app, partial, gid, p, body);
    if ((backend.capabilities as { chords?: unknown }).chords === 'unlock')
      await unlock(app, headerNode, body);
    rootOf(bodyNode).parent = headerNode;
    return bodyNode;
  }
}

// A plain function, not a #private method: clones are made with Object.create, which no private brand reaches.
function needBody(c: { readonly body: AnySignature | null }): AnySignature {
  const body = c.body;
  if (!body) throw new ConfigError('a chord needs a body: chord(header, body)');
  return body;
}

function rootOf(node: ResultNode): ResultNode {
  let n = node;
  while (n.parent) n = n.parent;
  return n;
}

/** What completes a chord, per header member (Celery's `chord._descend`). */
export function chordSize(sig: AnySignature): number {
  if (sig instanceof Group) return sig.tasks.reduce((n, t) => n + chordSize(t), 0);
  if (sig instanceof Chord) return sig.body ? chordSize(sig.body) : 0;
  if (sig.subtask_type === 'chain') {
    const steps = (sig.kwargs.tasks as AnySignature[]) ?? [];
    for (let i = steps.length - 1; i >= 0; i--) {
      const n = chordSize(steps[i] as AnySignature);
      if (n > 0) return n;
    }
    return 0;
  }
  return 1;
}

/** Refuse chords on a backend that cannot run them (rpc://), as Celery's `ensure_chords_allowed`. */
export async function ensureChordsAllowed(app: CanvasApp): Promise<void> {
  const backend = await app.backend();
  if ((backend.capabilities as { chords?: unknown }).chords === false)
    throw new ConfigError(
      `Starting chords requires a result backend that supports them: the ${backend.transport}:// result backend does not (Celery's rpc:// cannot either); use redis://, sqlite:// or memory://`,
    );
}

/**
 * Celery's `fallback_chord_unlock`: save the header group and send `celery.chord_unlock(gid, body)`
 * with kwargs `{result: [member tuples]}`, one second from now, to the body's queue and priority.
 */
async function unlock(app: CanvasApp, headerNode: ResultNode, body: AnySignature): Promise<void> {
  const backend = await app.backend();
  const ids = (headerNode.members ?? []).map((m) => m.id);
  await backend.saveGroup(headerNode.id, ids, { expires: app.conf.resultExpires });
  const queue = typeof body.options.queue === 'string' ? body.options.queue : undefined;
  const priority = typeof body.options.priority === 'number' ? body.options.priority : undefined;
  const route = appInternals(app).route(body.task, {}, app.tasks.get(body.task));
  await appInternals(app).publish('celery.chord_unlock', [headerNode.id, body.toJSON()], {
    kwargs: { result: ids.map((id) => [[id, null], null]) },
    countdown: 1,
    queue: queue ?? route,
    ...(priority !== undefined ? { priority } : {}),
  });
}

/**
 * `chord(header, body)`: the header's members in parallel, then `body` with the list of their results
 * prepended (unless immutable). The body must accept that list: `chord([add.s(1, 1)], tsum.s())` with
 * `tsum(xs: number[])`. Header results are typed as the union of the members' (see group()).
 */
export function chord<const S extends readonly AnySignature[], B extends AnySignature>(
  header: S | Group<ResultOf<S[number]>>,
  body: B &
    ([ResultOf<S[number]>[]] extends [InputOf<B>] ? unknown : Signature<ResultOf<B>, ResultOf<S[number]>[]>),
): Chord<ResultOf<B>, InputOf<S[number]>> {
  if (body === null || body === undefined) throw new ConfigError('a chord needs a body: chord(header, body)');
  // Celery's dict holds the header as a list until the chord is frozen.
  return new Chord(header instanceof Group ? header.tasks : [...header], body);
}

registerSignatureType('chord', (d, app) => {
  const k = d.kwargs as { header?: unknown; body?: unknown; kwargs?: unknown };
  let header: Group | SignatureJson[];
  if (Array.isArray(k.header)) header = k.header as SignatureJson[];
  else if (k.header && typeof k.header === 'object') {
    const h = toSignature(k.header, app);
    header = h instanceof Group ? h : [h];
  } else throw new ConfigError('a celery.chord signature needs kwargs.header (a list or a group)');
  const inner = k.kwargs && typeof k.kwargs === 'object' ? (k.kwargs as Record<string, unknown>) : {};
  const c = new Chord(header, (k.body as SignatureJson | null) ?? null, d.options, app, inner);
  c.immutable = d.immutable;
  return c;
});
