/**
 * chain: signatures applied one after the other, each getting the previous result prepended unless it
 * is immutable (Celery's `chain`, the dict `{"task": "celery.chain", "kwargs": {"tasks": [...]},
 * "subtask_type": "chain"}`).
 *
 * Applied as Celery's protocol-2 client does (`_chain.prepare_steps`, celery-wire.md §4.4): walking the
 * steps from the last, each is frozen (its task id fixed up front, so the chain's handle is the last
 * step's id, with `.parent` links back to the first); a nested chain is spliced in; a group followed
 * by a step becomes a chord of the two (the step receives the list of the group's results); then the
 * first step is published with the rest, reversed, in `embed.chain`. The worker pops the last element
 * and publishes it with the result prepended. The last step alone gets what encloses the chain (a
 * group's id, a chord body, a group index), as in Celery.
 */
import { ConfigError } from '../errors.js';
import type { SignatureJson } from '../protocol/message.js';
import { Chord, ensureChordsAllowed } from './chord.js';
import { Composite } from './composite.js';
import { Group } from './group.js';
import {
  type Accepting,
  type AnySignature,
  type CanvasApp,
  type HandleOf,
  type InputOf,
  type Placement,
  type ResultNode,
  type ResultOf,
  registerChainBuilder,
  registerSignatureType,
} from './signature.js';

export class Chain<R = unknown, In = unknown, H = unknown> extends Composite<R, In, H> {
  constructor(
    tasks: readonly SignatureJson[],
    options: Record<string, unknown> = {},
    app: CanvasApp | null = null,
  ) {
    super('celery.chain', 'chain', tasks, options, app);
  }

  /**
   * (Not a #private method: clones are made with Object.create, which no private brand reaches.)
   * Celery's `prepare_steps`: the steps to publish, last first, each frozen, and their result nodes
   * (`nodes[0]` is the last step's, its `.parent` the one before …).
   */
  protected prepare(p: Placement): { steps: AnySignature[]; nodes: ResultNode[] } {
    const pending = [...this.tasks];
    const steps: AnySignature[] = [];
    const nodes: ResultNode[] = [];
    const linkError = Array.isArray(this.options.link_error)
      ? (this.options.link_error as SignatureJson[])
      : [];
    let prev: AnySignature | null = null;
    let prevNode: ResultNode | null = null;
    while (pending.length) {
      let task = (pending.pop() as AnySignature).clone();
      if (task instanceof Group && task.tasks.length === 1) task = (task.tasks[0] as AnySignature).clone();
      if (task instanceof Chain) {
        pending.push(...task.tasks);
        continue;
      }
      if (task instanceof Group && prev) {
        // group(...) then a step: Celery upgrades the pair to a chord; the step becomes its body.
        steps.pop();
        nodes.pop();
        task = new Chord(task, prev);
      }
      const isLast: boolean = prevNode === null;
      for (const eb of linkError) task = task.linkError(eb);
      const node: ResultNode = isLast
        ? task.freeze({
            ...(p.taskId ? { taskId: p.taskId } : {}),
            ...(p.rootId ? { rootId: p.rootId } : {}),
            ...(p.groupId ? { groupId: p.groupId } : {}),
            ...(p.chord ? { chord: p.chord } : {}),
            ...(p.groupIndex !== undefined ? { groupIndex: p.groupIndex } : {}),
          })
        : task.freeze(p.rootId ? { rootId: p.rootId } : {});
      if (prevNode && !prevNode.parent) prevNode.parent = node;
      steps.push(task);
      nodes.push(node);
      prev = task;
      let top = node;
      // What precedes a chord becomes the parent of its header group, not of its body.
      if (task instanceof Chord) while (top.parent) top = top.parent;
      prevNode = top;
    }
    return { steps, nodes };
  }

  override freeze(p: Placement = {}): ResultNode {
    const { steps, nodes } = this.prepare(p);
    this.kwargs.tasks = [...steps].reverse();
    if (!nodes[0]) throw new ConfigError('chain() needs at least one signature');
    return nodes[0];
  }

  override async run(app: CanvasApp, partial: readonly unknown[], p: Placement): Promise<ResultNode> {
    const { steps, nodes } = this.prepare(p);
    const first = steps.pop();
    if (!first) throw new ConfigError('chain() needs at least one signature');
    if (steps.some((s) => s instanceof Chord) || first instanceof Chord) await ensureChordsAllowed(app);
    const placement: Placement = {
      ...(p.rootId ? { rootId: p.rootId } : {}),
      ...(p.parentId ? { parentId: p.parentId } : {}),
      ...(p.kwargs ? { kwargs: p.kwargs } : {}),
      ...(steps.length ? { chain: steps } : {}),
    };
    // The first step's own options (countdown, queue …) stay its own; the chain's go with it.
    const own = { ...this.options };
    delete own.link_error;
    delete own.task_id;
    const head = Object.keys(own).length ? first.clone([], {}, own) : first;
    const headNode = await head.run(app, partial, steps.length ? placement : { ...p, ...placement });
    return steps.length ? (nodes[0] as ResultNode) : headNode;
  }
}

type Last<S extends readonly unknown[]> = S extends readonly [...unknown[], infer L] ? L : S[number];
/** Each step after the first must accept the previous step's result (see Signature's `In`). */
export type CheckedChain<S extends readonly unknown[], Prev = never, First = true> = S extends readonly [
  infer Head,
  ...infer Tail,
]
  ? readonly [First extends true ? Head : Accepting<Head, Prev>, ...CheckedChain<Tail, ResultOf<Head>, false>]
  : S;

/**
 * Apply signatures one after the other: `chain(add.s(1, 2), add.s(3), toStr.s())`. Resolves to the last
 * step's AsyncResult (typed with its result: `AsyncResult<string>` here; a chain ending in a group
 * resolves to its GroupResult), with `.parent` going back step by step. A step whose first parameter
 * cannot take the previous result is a compile error, for signatures made from typed tasks
 * (`task.s()`); a signature by name or from JSON accepts anything, and a group's members are checked
 * as a union (see group()).
 */
export function chain<const S extends readonly AnySignature[]>(
  ...steps: S & CheckedChain<S>
): Chain<ResultOf<Last<S>>, InputOf<S[0]>, HandleOf<Last<S>>> {
  return new Chain([...steps]);
}

registerSignatureType('chain', (d, app) => {
  const tasks = (d.kwargs as { tasks?: unknown }).tasks;
  if (!Array.isArray(tasks)) throw new ConfigError('a celery.chain signature needs kwargs.tasks (a list)');
  const c = new Chain(tasks as SignatureJson[], d.options, app);
  c.immutable = d.immutable;
  return c;
});

/** `a.pipe(b)`, Celery's `|`: group then step is a chord, chord then step extends its body. */
function chainBuilder(left: AnySignature, right: AnySignature): AnySignature {
  if (left instanceof Group && !(right instanceof Group) && !(right instanceof Chain))
    return new Chord(left.tasks, right);
  if (left instanceof Chord && left.body && !(right instanceof Group) && !(right instanceof Chain)) {
    const c = left.clone();
    c.kwargs.body = left.body.pipe(right as AnySignature);
    return c;
  }
  const simple = !(right instanceof Group) && !(right instanceof Chain);
  if (left instanceof Chain && simple) {
    // Celery: a chain ending in a group, then a step, ends in a chord; ending in a chord, extends its body.
    const steps = [...left.tasks];
    const last = steps[steps.length - 1];
    if (last instanceof Group || (last instanceof Chord && last.body)) {
      steps[steps.length - 1] =
        last instanceof Group ? new Chord(last.tasks, right) : chainBuilder(last as AnySignature, right);
      return new Chain(steps, { ...left.options });
    }
  }
  const l = left instanceof Chain ? left.tasks : [left];
  const r = right instanceof Chain ? right.tasks : [right];
  return new Chain([...l, ...r]);
}
registerChainBuilder(([a, b]) => chainBuilder(a as AnySignature, b as AnySignature));
