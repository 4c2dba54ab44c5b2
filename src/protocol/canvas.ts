/**
 * Canvas shapes on the wire, pure: checking that a signature dict is one Celery could have sent, Celery's
 * result tuples (what `children` and GroupResult.save() hold), and how many header parts a chord waits
 * for (Celery 5.2's `_chord._descend`). No I/O; the worker's canvas (worker/canvas.ts) builds on these.
 *
 * Signature dict: `{task, args, kwargs, options, subtask_type, immutable}` (celery-wire.md §1.1). The
 * subtask types and where their parts live:
 *  - null: a task call;
 *  - 'chain': `kwargs.tasks` (steps, first to last);
 *  - 'group': `kwargs.tasks`;
 *  - 'chord': `kwargs.header` (a group signature or a list) and `kwargs.body`;
 *  - 'chunks': `kwargs.task`, `kwargs.it`, `kwargs.n`; 'xmap'/'xstarmap': `kwargs.task`, `kwargs.it`.
 */
import type { SignatureJson } from './message.js';

/** Celery's `AsyncResult.as_tuple()` / `GroupResult.as_tuple()`: `[[id, parent], children | null]`. */
export type ResultTuple = [[string, ResultTuple | null], ResultTuple[] | null];

export const resultTuple = (id: string): ResultTuple => [[id, null], null];
export const groupTuple = (gid: string, members: ResultTuple[]): ResultTuple => [[gid, null], members];

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : JSON.stringify(v);

/**
 * What is wrong with `v` as a signature (checked deeply through chains, groups and chords), or null when
 * it is one. `where` names it in the message, e.g. `embed.chain[0]`.
 */
export function signatureProblem(v: unknown, where: string, depth = 0): string | null {
  if (depth > 50) return `${where}: canvas nested too deeply`;
  if (!isObject(v)) return `${where} is not a signature (got ${describe(v)})`;
  if (typeof v.task !== 'string' || !v.task)
    return `${where}: the task name must be a non-empty string (got ${describe(v.task)})`;
  if (v.args !== undefined && v.args !== null && !Array.isArray(v.args))
    return `${where} (${v.task}): args must be a list (got ${describe(v.args)})`;
  if (v.kwargs !== undefined && v.kwargs !== null && !isObject(v.kwargs))
    return `${where} (${v.task}): kwargs must be a mapping (got ${describe(v.kwargs)})`;
  if (v.options !== undefined && v.options !== null && !isObject(v.options))
    return `${where} (${v.task}): options must be a mapping (got ${describe(v.options)})`;
  const kw = (v.kwargs ?? {}) as Record<string, unknown>;
  const list = (items: unknown, name: string): string | null => {
    if (!Array.isArray(items)) return `${where} (${v.task}): ${name} must be a list of signatures`;
    for (const [i, s] of items.entries()) {
      const p = signatureProblem(s, `${where}.${name}[${i}]`, depth + 1);
      if (p) return p;
    }
    return null;
  };
  switch (v.subtask_type) {
    case 'chain':
      if (Array.isArray(kw.tasks) && kw.tasks.length === 0)
        return `${where}: a chain needs at least one task`;
      return list(kw.tasks, 'tasks');
    case 'group':
      return list(kw.tasks, 'tasks');
    case 'chord': {
      if (kw.body === undefined || kw.body === null) return `${where}: a chord needs a body`;
      const body = signatureProblem(kw.body, `${where}.body`, depth + 1);
      if (body) return body;
      const header = kw.header;
      if (isObject(header)) return signatureProblem(header, `${where}.header`, depth + 1);
      return list(header, 'header');
    }
    case 'chunks':
    case 'xmap':
    case 'xstarmap': {
      const inner = signatureProblem(kw.task, `${where}.task`, depth + 1);
      if (inner) return inner;
      if (!Array.isArray(kw.it)) return `${where} (${v.subtask_type}): it must be a list`;
      if (v.subtask_type === 'chunks' && !(typeof kw.n === 'number' && kw.n >= 1))
        return `${where} (chunks): n must be a number >= 1`;
      return null;
    }
    default:
      return null;
  }
}

/** The header members of a chord signature: its group's tasks, or the list itself. */
export function chordHeader(sig: SignatureJson): unknown[] {
  const h = (sig.kwargs as Record<string, unknown>).header;
  if (isObject(h)) {
    if (h.subtask_type === 'group' || h.subtask_type === 'chain')
      return ((h.kwargs as Record<string, unknown>)?.tasks as unknown[]) ?? [];
    return [h];
  }
  return Array.isArray(h) ? h : [];
}

/**
 * How many completions one header member contributes (Celery's `_chord._descend`): a task counts 1, a
 * group the sum of its members, a chain its last non-empty step, a chord its body.
 */
export function chordParts(sig: SignatureJson): number {
  const kw = (sig.kwargs ?? {}) as Record<string, unknown>;
  switch (sig.subtask_type) {
    case 'group':
      return ((kw.tasks as SignatureJson[]) ?? []).reduce((n, s) => n + chordParts(s), 0);
    case 'chain': {
      const steps = (kw.tasks as SignatureJson[]) ?? [];
      for (let i = steps.length - 1; i >= 0; i--) {
        const n = chordParts(steps[i] as SignatureJson);
        if (n > 0) return n;
      }
      return 0;
    }
    case 'chord':
      return chordParts(kw.body as SignatureJson);
    default:
      return 1;
  }
}
