/**
 * Signature: one task call as data (Celery's `Signature`, a dict on the wire), the unit every canvas
 * primitive is made of. Responsibilities:
 *  - serialize exactly as Celery's dict signatures: the own enumerable fields are `task, args, kwargs,
 *    options, subtask_type, immutable` and nothing else (Celery 5.2 writes no `chord_size`; a 5.0 dict
 *    that has one keeps it), so `JSON.stringify(sig)` is what Python's `json.dumps(sig)` gives, and a
 *    dict received from Python becomes a usable signature with `fromJson`;
 *  - stay immutable for the caller: `set`, `link`, `linkError`, `clone` return new signatures, and
 *    applying never touches the signature applied. Celery mutates in place; here a signature can be
 *    reused in two workflows without the second one inheriting the first one's task ids;
 *  - freeze (fix the task id and Celery's placement options: root_id, reply_to, group_id, chord,
 *    group_index) and publish, through the one signature → send options translation (task/signature.ts).
 *    Composite signatures (chain, group, chord, chunks) override `freeze` and `run` in their own files.
 *
 * The composite kinds register themselves (`registerSignatureType`), as Celery's `Signature.register_type`
 * does, so this module imports none of them and the import graph has no circle. src/canvas/index.ts
 * imports them all; `fromJson` of a composite dict needs it loaded (the package entry point does).
 *
 * Types: `Signature<R, In>` carries the task's result type `R` and the type `In` of the argument a chain
 * or chord prepends (the previous result). `In` is `Complete` for a signature whose arguments are
 * complete (nothing may be prepended), `unknown` for an immutable one (what is prepended is ignored), `any` for a
 * signature by name or from JSON (nothing is known). They are phantom types: no runtime field holds them.
 */
import type { ResultBackend } from '../backends/backend.js';
import { ConfigError } from '../errors.js';
import type { SignatureJson } from '../protocol/message.js';
import { uuid } from '../protocol/oid.js';
import type { SendOptions } from '../task/options.js';
import { appInternals, type PublishedTask } from '../task/publisher.js';
import type { AsyncResult } from '../task/result.js';
import { signatureCall } from '../task/signature.js';
import { celeryOptions, type SignatureOptions } from './options.js';

export { celeryOptions, type SignatureOptions } from './options.js';

/** What canvas reads of an app (a structural view of App, so canvas never imports app/). */
export interface CanvasApp {
  readonly conf: { readonly resultExpires: number | null };
  readonly oid: string;
  readonly tasks: ReadonlyMap<string, PublishedTask>;
  backend(): Promise<ResultBackend>;
  AsyncResult<R = unknown>(id: string): AsyncResult<R>;
}

/**
 * The `In` of a signature given all its arguments: nothing can be prepended (no value has this type:
 * the private member makes it nominal). A class, not a `unique symbol`: a symbol's type cannot be named
 * in the declarations of a module that exports a workflow (`export const etl = () => chain(...)` fails
 * with TS2527 under `declaration: true`); a class is named like any exported type.
 */
export abstract class Complete {
  declare private readonly complete: never;
}

export type SubtaskType = 'chain' | 'group' | 'chord' | 'chunks' | 'xmap' | 'xstarmap';

/**
 * Where an enclosing workflow puts a signature when it freezes it (Celery's freeze arguments) and what it
 * sends with it. Internal to canvas.
 */
export interface Placement {
  /** The task id to use when the signature has none (a chain's or chord body's fixed id). */
  taskId?: string;
  groupId?: string;
  groupIndex?: number;
  /** The chord body a chord header member carries (`embed.chord`). */
  chord?: AnySignature;
  rootId?: string | null;
  parentId?: string | null;
  /** Remaining chain steps, reversed (`embed.chain`); only for publishing. */
  chain?: readonly AnySignature[];
  /** Keyword arguments merged into the first task(s) applied (Celery's `apply_async(kwargs=…)`). */
  kwargs?: Record<string, unknown>;
}

/** The result tree a frozen workflow will produce: a task (with its parent) or a group of members. */
export interface ResultNode {
  id: string;
  parent: ResultNode | null;
  /** Present for a group: its members' results, in order. */
  members?: ResultNode[];
}

// biome-ignore lint/suspicious/noExplicitAny: a signature of any result, input and handle
export type AnySignature = Signature<any, any, any>;
/** The result type of a signature (`unknown` when it is not known). */
export type ResultOf<S> = S extends Signature<infer R, infer _I, infer _H> ? R : unknown;
/** The type a chain or chord prepends to a signature's arguments (see the module comment). */
export type InputOf<S> = S extends Signature<infer _R, infer I, infer _H> ? I : unknown;
/** The handle `applyAsync` of a signature resolves to. */
export type HandleOf<S> = S extends Signature<infer _R, infer _I, infer H> ? H : unknown;
/** `S` when it can take `Prev` prepended; otherwise the signature it would need to be (a compile error). */
export type Accepting<S, Prev> = [Prev] extends [InputOf<S>] ? S : Signature<ResultOf<S>, Prev, HandleOf<S>>;

type Factory = (d: SignatureJson, app: CanvasApp | null) => AnySignature;
const TYPES = new Map<string, Factory>();
/** Celery's built-in task names whose dicts carry `subtask_type: null` but are composite. */
const BY_TASK_NAME = new Map<string, string>();

/** Register a composite kind (chain.ts, group.ts, …); `taskName`: the built-in task it is sent as. */
export function registerSignatureType(type: string, factory: Factory, taskName?: string): void {
  TYPES.set(type, factory);
  if (taskName) BY_TASK_NAME.set(taskName, type);
}

let chainBuilder: ((steps: AnySignature[]) => AnySignature) | null = null;
/** chain.ts hands its builder over, so `sig.pipe()` builds a chain without this module importing it. */
export function registerChainBuilder(build: (steps: AnySignature[]) => AnySignature): void {
  chainBuilder = build;
}

/** A signature's app, kept off the object so that it never serializes (and clones keep it). */
const APPS = new WeakMap<object, CanvasApp>();

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Copy option values, re-creating nested signatures, so a clone never shares a list with its origin. */
function copyValue(v: unknown): unknown {
  if (v instanceof Signature) return v.clone();
  if (Array.isArray(v)) return v.map(copyValue);
  if (isObject(v) && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = copyValue(x);
    return out;
  }
  return v;
}

/**
 * `R`: the task's result; `In`: what a chain prepends (see the module comment); `H`: the handle
 * `applyAsync` resolves to (an AsyncResult, or a GroupResult for a group).
 */
export class Signature<R = unknown, In = unknown, H = AsyncResult<R>> {
  /** Celery's dict is open: a Python peer may add keys (5.0's `chord_size`); they are kept. */
  [key: string]: unknown;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: string | null;
  immutable: boolean;
  declare readonly __result?: R;
  // Method syntax: checked both ways, so every signature (`any` input by name too) fits AnySignature.
  declare readonly __input?: { accepts(prepended: In): void };

  constructor(
    task: string,
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: Record<string, unknown> = {},
    extra: { subtask_type?: string | null; immutable?: boolean; app?: CanvasApp | null } = {},
  ) {
    if (typeof task !== 'string' || !task)
      throw new ConfigError(
        `a signature needs a task name (a non-empty string), got ${JSON.stringify(task)}`,
      );
    if (!Array.isArray(args)) throw new ConfigError(`signature "${task}": args must be a list`);
    if (!isObject(kwargs)) throw new ConfigError(`signature "${task}": kwargs must be an object`);
    this.task = task;
    this.args = [...args];
    this.kwargs = { ...kwargs };
    this.options = { ...options };
    this.subtask_type = extra.subtask_type ?? null;
    this.immutable = extra.immutable ?? false;
    if (extra.app) APPS.set(this, extra.app);
  }

  /** The app this signature publishes through (its task's app); composites look at their members. */
  get app(): CanvasApp | null {
    return APPS.get(this) ?? this.memberApp();
  }
  protected memberApp(): CanvasApp | null {
    return null;
  }

  /** The same signature bound to `app` (a signature by name or from JSON has none). */
  bind(app: CanvasApp): this {
    const c = this.clone();
    APPS.set(c, app);
    return c;
  }

  /** The plain dict, as Celery's `json.dumps(sig)` writes it. */
  toJSON(): SignatureJson {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(this)) out[key] = this[key];
    return out as SignatureJson;
  }

  /**
   * A copy (Celery's `clone`): `args` are prepended and `kwargs` merged unless the signature is
   * immutable; `options` are merged, except that a `group_id` already set stays (Celery's
   * `_IMMUTABLE_OPTIONS`: changing it would stall the group it belongs to).
   */
  clone(
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: Record<string, unknown> = {},
  ): this {
    const own = copyValue(this.options) as Record<string, unknown>;
    for (const [k, v] of Object.entries(options)) if (k !== 'group_id' || !('group_id' in own)) own[k] = v;
    const d: Record<string, unknown> = { ...this.toJSON(), options: own };
    d.kwargs = copyValue(this.kwargs);
    if (!this.immutable) {
      d.args = [...args, ...this.args];
      d.kwargs = { ...(d.kwargs as Record<string, unknown>), ...kwargs };
    } else d.args = [...this.args];
    const c = Object.create(Object.getPrototypeOf(this)) as this;
    Object.assign(c, d);
    const app = APPS.get(this);
    if (app) APPS.set(c, app);
    return c;
  }

  /** Execution options (countdown, queue, …; Celery's `set`). Returns a new signature. */
  set(options: SignatureOptions): this {
    const c = this.clone([], {}, celeryOptions(options));
    if (options.immutable !== undefined) c.setImmutable(options.immutable);
    return c;
  }
  /** Mark immutable (composites pass it to their members, as Celery's `set_immutable`). Mutates a copy only. */
  protected setImmutable(immutable: boolean): void {
    this.immutable = immutable;
  }

  /** Apply `callback` with this task's result when it succeeds (Celery's `link`). Returns a new signature. */
  link(callback: SignatureJson): this {
    return this.withListOption('link', callback);
  }
  /** Apply `errback` when this task fails (Celery's `link_error`). Returns a new signature. */
  linkError(errback: SignatureJson): this {
    return this.withListOption('link_error', errback);
  }
  protected withListOption(key: string, value: SignatureJson): this {
    const c = this.clone();
    const cur = c.options[key];
    const list = Array.isArray(cur) ? cur : cur === undefined || cur === null ? [] : [cur];
    const sig = toSignature(value);
    // Celery appends only when the same signature is not already there.
    if (!list.some((x) => JSON.stringify(x) === JSON.stringify(sig))) list.push(sig);
    c.options[key] = list;
    return c;
  }

  /**
   * `this`, then `next` (Celery's `a | b`): a chain, where `next` receives this result unless it is
   * immutable; a group then a step is a chord. Named `pipe`, not `then`: a signature with a `then`
   * method would be a thenable, so `await`ing it or returning it from an async function would call it.
   */
  pipe<N extends AnySignature>(next: Accepting<N, R>): Signature<ResultOf<N>, In, HandleOf<N>> {
    if (!chainBuilder)
      throw new ConfigError('sig.pipe() needs the canvas module (import it from "celeriac")');
    return chainBuilder([this, toSignature(next)]) as Signature<ResultOf<N>, In, HandleOf<N>>;
  }

  /** False for composites, which publish themselves; a group batches its plain members in one publish. */
  get plain(): boolean {
    return true;
  }

  /**
   * Fix the task id and Celery's placement options on this signature (Celery's `freeze`): `task_id`
   * (kept when set), `root_id`, `parent_id`, `reply_to` (the app's oid), `group_id` (kept when set),
   * `chord`, `group_index`. Mutates: canvas only freezes its own copies.
   */
  freeze(p: Placement = {}): ResultNode {
    const o = this.options;
    if (typeof o.task_id !== 'string' || !o.task_id) o.task_id = p.taskId ?? uuid();
    if (p.rootId) o.root_id = p.rootId;
    if (p.parentId) o.parent_id = p.parentId;
    const app = this.app;
    if (!('reply_to' in o) && app) o.reply_to = app.oid;
    if (p.groupId && !('group_id' in o)) o.group_id = p.groupId;
    if (p.chord) o.chord = p.chord;
    if (p.groupIndex !== undefined) o.group_index = p.groupIndex;
    return { id: o.task_id as string, parent: null };
  }

  /** Freeze and publish this (copy of a) signature with `partial` prepended. Composites override it. */
  async run(app: CanvasApp, partial: readonly unknown[], p: Placement): Promise<ResultNode> {
    const node = this.freeze(p);
    const extra: SendOptions = p.chain?.length ? { chain: [...p.chain] } : {};
    if (p.kwargs && !this.immutable) extra.kwargs = p.kwargs;
    const call = signatureCall(this, partial, extra);
    await appInternals(app).publishMany([call]);
    return node;
  }

  /**
   * Publish (Celery's `apply_async`): `args` are prepended and `kwargs` merged (unless immutable),
   * `options` set for this call only.
   */
  async applyAsync(
    call: { args?: readonly unknown[]; kwargs?: Record<string, unknown> } & SignatureOptions = {},
  ): Promise<H> {
    const { args = [], kwargs = {}, ...options } = call;
    const app = requireApp(this);
    const sig = this.clone([], {}, celeryOptions(options));
    if (options.immutable !== undefined) sig.setImmutable(options.immutable);
    const node = await sig.run(app, args, { kwargs });
    return resultFromNode(app, node) as H;
  }

  /** Publish with `args` prepended (Celery's `delay`). */
  delay(...args: unknown[]): Promise<H> {
    return this.applyAsync({ args });
  }
}

/** The app to publish through, or a ConfigError saying how to give one. */
export function requireApp(sig: AnySignature): CanvasApp {
  const app = sig.app;
  if (!app)
    throw new ConfigError(
      `signature "${sig.task}" is not bound to an app: build it from a task (task.s()), or call sig.bind(app) first`,
    );
  return app;
}

let resultBuilder: ((app: CanvasApp, node: ResultNode) => unknown) | null = null;
/** group-result.ts hands over how result trees become AsyncResult/GroupResult handles. */
export function registerResultBuilder(build: (app: CanvasApp, node: ResultNode) => unknown): void {
  resultBuilder = build;
}
export function resultFromNode(app: CanvasApp, node: ResultNode): unknown {
  if (!resultBuilder)
    throw new ConfigError('canvas results need the canvas module (import it from "celeriac")');
  return resultBuilder(app, node);
}

/**
 * A signature by name (Celery's `signature(name, args, kwargs, options)`), e.g. of a task defined only
 * in Python. Pass `app` (or `.bind(app)` later) to apply it on its own; inside a workflow the workflow's
 * app is used. Its result and input types are unknown unless given.
 */
export function signature<R = unknown>(
  name: string,
  args: readonly unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options: SignatureOptions = {},
  app?: CanvasApp,
  // biome-ignore lint/suspicious/noExplicitAny: nothing is known of the input of a task by name
): Signature<R, any> {
  const s = new Signature<R, unknown>(name, args, kwargs, celeryOptions(options), {
    immutable: options.immutable ?? false,
    app: app ?? null,
  });
  return s;
}

/**
 * A signature from Celery's dict (received from Python, in a callback, a chain, a stored result …).
 * Composite dicts (`subtask_type` chain/group/chord, or Celery's chunks/map/starmap tasks) become the
 * matching composite, their members too. Throws a ConfigError on something that is not a signature.
 */
// biome-ignore lint/suspicious/noExplicitAny: nothing is known of a signature from JSON
export function fromJson(d: unknown, app: CanvasApp | null = null): Signature<unknown, any> {
  if (d instanceof Signature) return app && !d.app ? d.bind(app) : d;
  if (!isObject(d)) throw new ConfigError(`not a signature: ${JSON.stringify(d)?.slice(0, 200)}`);
  if (typeof d.task !== 'string' || !d.task)
    throw new ConfigError(`not a signature (its "task" is not a name): ${JSON.stringify(d).slice(0, 200)}`);
  const type = typeof d.subtask_type === 'string' ? d.subtask_type : BY_TASK_NAME.get(d.task);
  const factory = type ? TYPES.get(type) : undefined;
  const json: SignatureJson = {
    ...d,
    task: d.task,
    args: d.args === undefined || d.args === null ? [] : (d.args as unknown[]),
    kwargs: d.kwargs === undefined || d.kwargs === null ? {} : (d.kwargs as Record<string, unknown>),
    options: isObject(d.options) ? d.options : {},
    subtask_type: typeof d.subtask_type === 'string' ? d.subtask_type : null,
    immutable: d.immutable === true,
  };
  if (factory) return factory(json, app);
  return plainFromJson(json, app);
}

/** A plain (non-composite) signature from a dict, keeping any extra keys. */
export function plainFromJson(d: SignatureJson, app: CanvasApp | null): AnySignature {
  const { task, args, kwargs, options, subtask_type, immutable, ...extra } = d;
  const s = new Signature(task, args, kwargs, options, { subtask_type, immutable, app });
  Object.assign(s, extra);
  return s;
}

/** A signature instance for a signature or a dict. */
export function toSignature(v: unknown, app: CanvasApp | null = null): AnySignature {
  return fromJson(v, app);
}
