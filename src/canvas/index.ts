/**
 * Canvas: signatures, chain, group, chord and Celery's chunks/map/starmap, in Celery's wire layout, so
 * Python workers run ours and ours run theirs (celery-wire.md §4.3, §4.4). One concept per file:
 *  - signature.ts: the Signature (plain data, Celery's dict) and `signature()`/`fromJson()`;
 *  - chain.ts, group.ts, chord.ts, map.ts: the composites, which register themselves with signature.ts;
 *  - group-result.ts: GroupResult and Celery's result tuples.
 * Importing this module loads them all (and so makes `fromJson` know every kind).
 * Signature options become send options through the one translation, task/signature.ts.
 */
import type { SignatureJson } from '../protocol/message.js';
import type { AsyncResult } from '../task/result.js';
import { Chain } from './chain.js';
import { Group } from './group.js';
import type { GroupResult } from './group-result.js';
import { type CanvasApp, toSignature } from './signature.js';

export { Chain, type CheckedChain, chain } from './chain.js';
export { Chord, chord, chordSize } from './chord.js';
export { Group, group } from './group.js';
export { GroupResult, type MemberResult, resultFromTuple } from './group-result.js';
export { Chunks, MapSignature } from './map.js';
export {
  type AnySignature,
  type CanvasApp,
  type Complete,
  celeryOptions,
  fromJson,
  type InputOf,
  type ResultOf,
  Signature,
  type SignatureOptions,
  signature,
} from './signature.js';

/** `app.group([...])`: the signatures (or Celery dicts) published as one group. */
export function applyGroup<R = unknown>(
  app: CanvasApp,
  sigs: readonly SignatureJson[],
  options: { groupId?: string } = {},
): Promise<GroupResult<R>> {
  const g = new Group<R>(
    sigs.map((s) => toSignature(s, app)),
    {},
    app,
  );
  return g.applyAsync(options.groupId ? { taskId: options.groupId } : {});
}

/** `app.chain([...])`: the signatures (or Celery dicts) published as one chain; the last step's result. */
export function applyChain<R = unknown>(
  app: CanvasApp,
  sigs: readonly SignatureJson[],
): Promise<AsyncResult<R>> {
  if (!sigs.length) throw new TypeError('chain() needs at least one signature');
  const c = new Chain<R, unknown, AsyncResult<R>>(
    sigs.map((s) => toSignature(s, app)),
    {},
    app,
  );
  return c.applyAsync();
}
