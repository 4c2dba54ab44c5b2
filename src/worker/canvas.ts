/**
 * Applying a Celery signature dict of any kind from inside a worker, as Celery 5.2's canvas does when a
 * worker meets one (`signature(d).apply_async(args, **options)`): a chain step, a link callback, a
 * replacement, or the built-in canvas tasks. A Python chain holding a group, for example, reaches our
 * worker as a `celery.chord` signature in `embed.chain`; this turns it into the header messages (each
 * with `group`, `group_index` and `embed.chord`) after storing the chord size, exactly as a Python
 * worker would, so either kind of worker can run the rest.
 *
 * Options travel as Celery's snake_case dict (`task_id`, `group_id`, `chord`, `chain`, `link` …) until
 * a plain task is published, where the one translation (task/signature.ts) makes them send options.
 * Each apply returns two Celery result tuples: `result` (what the caller's result handle is: a chain's
 * last step, a chord's body) and `trail` (what Celery adds to the sending task's `children`: a chain's
 * first step, a group's or chord header's GroupResult).
 */
import { E_CHORD_NO_BACKEND, E_NO_CHORD_SUPPORT, type ResultBackend } from '../backends/backend.js';
import { CanvasError, ChordsUnsupported } from '../errors.js';
import {
  chordHeader,
  chordParts,
  groupTuple,
  type ResultTuple,
  resultTuple,
  signatureProblem,
} from '../protocol/canvas.js';
import type { SignatureJson } from '../protocol/message.js';
import { uuid } from '../protocol/oid.js';
import type { SendOptions } from '../task/options.js';
import { signatureCall } from '../task/signature.js';

type Opts = Record<string, unknown>;

/** Where applied signatures go: publishing and the result backend of the app or worker applying them. */
export interface CanvasTarget {
  /** Publish one task call; resolves with its id. */
  send(name: string, args: unknown[], options: SendOptions): Promise<string>;
  /** The queue a call of `name` goes to (Celery's `route_name`: map/starmap route as their inner task). */
  route(name: string, options: SendOptions): string;
  readonly backend: ResultBackend | null;
  readonly resultExpires: number | null;
}

export interface Applied {
  result: ResultTuple;
  trail: ResultTuple;
}

/** A signature dict as a full object (Celery's `maybe_signature`); throws CanvasError when it is not one. */
export function toSignature(v: unknown, where: string): SignatureJson {
  const problem = signatureProblem(v, where);
  if (problem) throw new CanvasError(problem);
  const s = v as SignatureJson;
  return {
    ...s,
    args: [...(s.args ?? [])],
    kwargs: { ...(s.kwargs ?? {}) },
    options: { ...(s.options ?? {}) },
    subtask_type: s.subtask_type ?? null,
    immutable: s.immutable === true,
  };
}

const list = (v: unknown): SignatureJson[] => (Array.isArray(v) ? (v as SignatureJson[]) : []);
const partial = (sig: SignatureJson, args: readonly unknown[]): unknown[] =>
  sig.immutable || !args.length ? [...sig.args] : [...args, ...sig.args];

/** Apply `sig` with `prepend` before its args (unless immutable) and `extra` over its options. */
export async function applySignature(
  t: CanvasTarget,
  raw: unknown,
  prepend: readonly unknown[],
  extra: Opts,
  where = 'signature',
): Promise<Applied> {
  const sig = toSignature(raw, where);
  switch (sig.subtask_type) {
    case 'chain':
      return applyChain(t, sig, prepend, extra);
    case 'group':
      return applyGroup(t, sig, prepend, extra);
    case 'chord':
      return applyChord(t, sig, prepend, extra);
    case 'chunks':
      return applyChunks(t, sig, extra);
    case 'xmap':
    case 'xstarmap':
      return applyTask(t, { ...sig, args: [], immutable: true }, [], extra, innerName(sig));
    default:
      return applyTask(t, sig, prepend, extra);
  }
}

const innerName = (sig: SignatureJson): string =>
  String((sig.kwargs.task as SignatureJson | undefined)?.task ?? sig.task);

async function applyTask(
  t: CanvasTarget,
  sig: SignatureJson,
  prepend: readonly unknown[],
  extra: Opts,
  routeName?: string,
): Promise<Applied> {
  const options: Opts = { ...sig.options, ...extra };
  if (typeof options.task_id !== 'string' || !options.task_id) options.task_id = uuid();
  const call = signatureCall({ ...sig, options }, prepend, {});
  const send: SendOptions = { ...call.options, addToParent: false };
  if (routeName && !send.queue) send.queue = t.route(routeName, send);
  await t.send(call.name, call.args, send);
  const r = resultTuple(options.task_id as string);
  return { result: r, trail: r };
}

/**
 * Celery's `group.apply_async`: the group's task id becomes the group id of every member (nested groups
 * are flattened into it), the group's options override the members', and members that carry a chord
 * body (a chord's header) make it store the chord size first.
 */
async function applyGroup(
  t: CanvasTarget,
  sig: SignatureJson,
  prepend: readonly unknown[],
  extra: Opts,
): Promise<Applied> {
  const merged: Opts = { ...sig.options, ...extra };
  const gid = typeof merged.task_id === 'string' && merged.task_id ? merged.task_id : uuid();
  delete merged.task_id;
  merged.group_id = gid;
  const chord = merged.chord as SignatureJson | undefined;
  delete merged.chord;
  const members = flatten(list(sig.kwargs.tasks), `${sig.task}.tasks`);
  const body = chord ?? (members.find((m) => m.options.chord)?.options.chord as SignatureJson | undefined);
  if (body && members.length) {
    const size = members.reduce((n, m) => n + chordParts(m), 0);
    await prepareChord(t, gid, size);
  }
  const results: ResultTuple[] = [];
  for (const m of members) {
    const opts: Opts = { ...merged };
    const own = chord ?? m.options.chord;
    if (own) opts.chord = own;
    results.push((await applySignature(t, m, partial(sig, prepend), opts)).result);
  }
  const g = groupTuple(gid, results);
  return { result: g, trail: g };
}

/** Nested groups unrolled into their parent (Celery's `group._prepared`). */
function flatten(items: readonly unknown[], where: string): SignatureJson[] {
  const out: SignatureJson[] = [];
  items.forEach((item, i) => {
    const s = toSignature(item, `${where}[${i}]`);
    if (s.subtask_type === 'group') out.push(...flatten(list(s.kwargs.tasks), `${where}[${i}].tasks`));
    else out.push(s);
  });
  return out;
}

async function prepareChord(t: CanvasTarget, gid: string, size: number): Promise<void> {
  const b = t.backend;
  if (!b) throw new ChordsUnsupported(E_CHORD_NO_BACKEND);
  if (b.capabilities.chords === false) throw new ChordsUnsupported(E_NO_CHORD_SUPPORT);
  await b.prepareChord?.(gid, size, { expires: t.resultExpires });
}

/**
 * Celery's `chord.run`: the body takes the chord's options (so a chain's remaining steps continue after
 * the body) and its task id; every header member gets `group_id` = the header's id, `group_index` and
 * `chord` = the body; an empty header applies the body at once with `[]`. Backends without a counter get
 * Celery's `celery.chord_unlock` poller.
 */
async function applyChord(
  t: CanvasTarget,
  sig: SignatureJson,
  prepend: readonly unknown[],
  extra: Opts,
): Promise<Applied> {
  const args = partial(sig, prepend);
  const merged: Opts = { ...sig.options, ...extra };
  const taskId = merged.task_id;
  delete merged.task_id;
  const body = toSignature(sig.kwargs.body, `${sig.task}.body`);
  Object.assign(body.options, merged);
  // Celery's `body.freeze(task_id)`: an id the body already has wins (a Python chord step carries the
  // header's group id as its own task_id, and the body's id in the body).
  if (typeof body.options.task_id !== 'string' || !body.options.task_id)
    body.options.task_id = typeof taskId === 'string' && taskId ? taskId : uuid();
  const header = sig.kwargs.header as SignatureJson | undefined;
  const headerId = header && !Array.isArray(header) ? header.options?.task_id : undefined;
  const gid = typeof headerId === 'string' && headerId ? headerId : uuid();
  const rootId = body.options.root_id;
  const headerOpts: Opts = { ...merged };
  delete headerOpts.chain;
  delete headerOpts.chord;
  const members = flatten(chordHeader(sig), `${sig.task}.header`).map((m, i) => {
    m.options = { ...m.options, group_id: gid, chord: body, group_index: i };
    if (rootId !== undefined && m.options.root_id === undefined) m.options.root_id = rootId;
    return m;
  });
  const bodyResult = resultTuple(body.options.task_id as string);
  if (!members.length) {
    await applySignature(t, body, [[]], {});
    const g = groupTuple(gid, []);
    return { result: bodyResult, trail: g };
  }
  const chords = t.backend?.capabilities.chords;
  const group: SignatureJson = {
    task: 'celery.group',
    args: [],
    kwargs: { tasks: members },
    options: { task_id: gid },
    subtask_type: 'group',
    immutable: false,
  };
  const header$ = await applyGroup(t, group, args, headerOpts);
  if (chords === 'unlock') {
    // Celery's fallback_chord_unlock: poll the header's results every second until they are ready.
    await t.send('celery.chord_unlock', [gid, body], {
      kwargs: { result: header$.result[1] ?? [] },
      countdown: 1,
      ...(typeof body.options.queue === 'string' ? { queue: body.options.queue } : {}),
      addToParent: false,
    });
  }
  return { result: bodyResult, trail: header$.trail };
}

/**
 * Celery's `_chain.run` with `prepare_steps`: nested chains are flattened, a group followed by a step
 * becomes a chord with that step as its body, the last step takes the chain's task id, group and chord,
 * errbacks go to every step, link callbacks to the last; the first step is published with the rest,
 * reversed, as its `chain` (after any chain the caller is already in).
 */
async function applyChain(
  t: CanvasTarget,
  sig: SignatureJson,
  prepend: readonly unknown[],
  extra: Opts,
): Promise<Applied> {
  const args = partial(sig, prepend);
  const merged: Opts = { ...sig.options, ...extra };
  const take = (k: string) => {
    const v = merged[k];
    delete merged[k];
    return v;
  };
  const [taskId, groupId, chordBody, groupIndex, link, linkError, rootId] = [
    'task_id',
    'group_id',
    'chord',
    'group_index',
    'link',
    'link_error',
    'root_id',
  ].map(take);
  const outer = list(take('chain'));
  const pending = list(sig.kwargs.tasks).map((s, i) => toSignature(s, `${sig.task}.tasks[${i}]`));
  if (!pending.length) throw new CanvasError(`${sig.task}: a chain needs at least one task`);
  const steps: SignatureJson[] = []; // last step first, as on the wire
  let prev: SignatureJson | null = null;
  while (pending.length) {
    let step = pending.pop() as SignatureJson;
    const isFirst = pending.length === 0;
    if (step.subtask_type === 'chain') {
      pending.push(...list(step.kwargs.tasks).map((s, i) => toSignature(s, `${step.task}.tasks[${i}]`)));
      continue;
    }
    if (isFirst && args.length) step = { ...step, args: partial(step, args) };
    if (step.subtask_type === 'group' && prev) {
      steps.pop();
      step = {
        task: 'celery.chord',
        args: [],
        kwargs: { kwargs: {}, header: step, body: prev },
        options: { task_id: prev.options.task_id },
        subtask_type: 'chord',
        immutable: false,
      };
    }
    const o = step.options;
    if (steps.length === 0) {
      // Celery's `freeze(last_task_id)`: the step's own id, if it has one, wins.
      if (typeof taskId === 'string' && taskId && typeof o.task_id !== 'string') o.task_id = taskId;
      if (groupId) o.group_id = groupId;
      if (chordBody) o.chord = chordBody;
      if (groupIndex !== undefined && groupIndex !== null) o.group_index = groupIndex;
    }
    if (typeof o.task_id !== 'string' || !o.task_id) o.task_id = uuid();
    if (rootId) o.root_id = rootId;
    if (Array.isArray(linkError) && linkError.length)
      o.link_error = [...list(o.link_error), ...(linkError as unknown[])];
    steps.push(step);
    prev = step;
  }
  const last = steps[0] as SignatureJson;
  if (Array.isArray(link) && link.length) last.options.link = [...list(last.options.link), ...link];
  const first = steps.pop() as SignatureJson;
  const chain = [...outer, ...steps];
  const opts: Opts = { ...merged, ...(rootId ? { root_id: rootId } : {}) };
  if (chain.length) opts.chain = chain;
  const applied = await applySignature(t, first, [], opts);
  return {
    result: steps.length ? resultTuple(last.options.task_id as string) : applied.result,
    trail: applied.trail,
  };
}

/** Celery's `chunks.apply_async`: a group of `celery.starmap` calls over `n`-sized parts of `it`. */
async function applyChunks(t: CanvasTarget, sig: SignatureJson, extra: Opts): Promise<Applied> {
  const { task, it, n } = sig.kwargs as { task: SignatureJson; it: unknown[]; n: number };
  const parts: SignatureJson[] = [];
  for (let i = 0; i < it.length; i += n)
    parts.push({
      task: 'celery.starmap',
      args: [],
      kwargs: { task, it: it.slice(i, i + n) },
      options: {},
      subtask_type: 'xstarmap',
      immutable: true,
    });
  const group: SignatureJson = {
    task: 'celery.group',
    args: [],
    kwargs: { tasks: parts },
    options: { ...sig.options },
    subtask_type: 'group',
    immutable: false,
  };
  return applyGroup(t, group, [], extra);
}
