/**
 * What finished tasks set off in a workflow, shared by the callbacks, errbacks and chord middleware and
 * by Celery's built-in tasks (worker/builtin-tasks.ts):
 *  - errbacks, in Celery 5.2's two styles (`Backend._call_task_errbacks`):
 *    new style, when the errback's task is registered in this worker and takes more than one
 *    positional parameter: it is called here, in the worker process, not sent, as
 *    `fn(request, exc, traceback, ...sig.args)` with the signature's kwargs. What a TS handler gets:
 *      - `request`: an ErrbackRequest (below): the failed task's id, name, args, kwargs, root, parent,
 *        group and retries;
 *      - `exc`: a TaskError with the failure's Celery triple (`excType`, `excModule`, `excMessage`);
 *      - `traceback`: the failure's traceback text, or null.
 *    It runs outside any task (`currentTask()` throws there) and its return value is not stored.
 *    "More than one parameter" is `params.length` when the task declares `params`, else `fn.length`
 *    (which counts neither a rest parameter nor those with defaults: declare `params` then).
 *    Old style (one parameter, or a task this worker does not know, e.g. a Python one): all of them are
 *    sent as one group, with the failed task's id as their first argument and as their parent;
 *  - a chord header part that is done (`finishChordPart`): the backend's counter says whether it was
 *    the last; the last one applies the body with the header's results, or, when a part failed, fails
 *    the body with Celery's ChordError and calls the body's errbacks (`chord_error_from_stack`).
 */
import type { ResultBackend } from '../backends/backend.js';
import { ChordError } from '../errors.js';
import { signatureProblem } from '../protocol/canvas.js';
import type { SignatureJson, TaskRequest } from '../protocol/message.js';
import {
  buildMeta,
  type ExcInfo,
  errorFromMeta,
  type ResultMeta,
  serializeError,
} from '../protocol/result.js';
import { bindArguments } from '../task/arguments.js';
import type { AnyTask } from '../task/task.js';
import type { Logger } from '../util/log.js';
import { applySignature, type CanvasTarget } from './canvas.js';

/** What a new-style errback receives as its first argument. */
export interface ErrbackRequest {
  readonly id: string;
  readonly name: string | null;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly groupId: string | null;
  readonly groupIndex: number | null;
  readonly retries: number;
  readonly hostname: string;
}

export interface ErrbackEnv {
  readonly tasks: ReadonlyMap<string, AnyTask>;
  readonly target: CanvasTarget;
  readonly logger: Logger;
  readonly hostname: string;
}

const newStyle = (task: AnyTask | undefined): task is AnyTask =>
  !!task && (task.options.params ? task.options.params.length > 1 : task.fn.length > 1);

/**
 * Call `errbacks` for the failure `exc` of `request` (Celery's `_call_task_errbacks`). Malformed errbacks
 * are logged and skipped: the failure they were for is stored already. Resolves once the new-style ones
 * returned and the old-style ones were sent; rejects with what a new-style errback threw.
 */
export async function callErrbacks(
  env: ErrbackEnv,
  request: ErrbackRequest,
  errbacks: readonly unknown[],
  exc: ExcInfo,
  traceback: string | null,
): Promise<void> {
  const old: SignatureJson[] = [];
  for (const [i, eb] of errbacks.entries()) {
    const problem = signatureProblem(eb, `link_error[${i}]`);
    if (problem) {
      env.logger.log('error', `errback of ${request.id} skipped: ${problem}`);
      continue;
    }
    const sig = eb as SignatureJson;
    const task = env.tasks.get(sig.task);
    if (!sig.subtask_type && newStyle(task)) {
      const err = errorFromMeta({ result: exc, traceback, status: 'FAILURE' });
      const args = bindArguments(
        sig.task,
        task.fn,
        task.options.params,
        [request, err, traceback, ...(sig.args ?? [])],
        sig.kwargs ?? {},
      );
      await task.fn(...args);
    } else old.push(sig);
  }
  if (!old.length) return;
  const group: SignatureJson = {
    task: 'celery.group',
    args: [],
    kwargs: { tasks: old },
    options: {},
    subtask_type: 'group',
    immutable: false,
  };
  await applySignature(env.target, group, [request.id], {
    parent_id: request.id,
    root_id: request.rootId ?? request.id,
  });
}

/**
 * A chord header part reached its final state (stored already): count it, and if it completed the chord,
 * apply the body with the ordered results (its parent: the part that completed it), or fail the body.
 * Resolves with true when this call completed the chord.
 */
export async function finishChordPart(
  env: ErrbackEnv,
  backend: ResultBackend,
  part: { groupId: string; index: number | null; meta: ResultMeta; body: unknown; rootId: string | null },
): Promise<boolean> {
  if (!backend.chordPartReturn) return false; // 'unlock' backends: celery.chord_unlock polls instead
  const body = part.body as SignatureJson;
  const size = typeof body?.chord_size === 'number' ? body.chord_size : null;
  let results: unknown[] | null;
  try {
    results = await backend.chordPartReturn(part.groupId, part.index, part.meta, size);
  } catch (err) {
    if (!(err instanceof ChordError)) throw err;
    env.logger.log('error', `Chord ${part.groupId} raised: ${err.message}`);
    await failChord(env, backend, body, err);
    return true;
  }
  if (!results) return false;
  try {
    await applySignature(
      env.target,
      body,
      [results],
      {
        parent_id: part.meta.task_id,
        root_id: part.rootId ?? part.meta.task_id,
      },
      'chord body',
    );
  } catch (err) {
    env.logger.log('error', `Chord callback for ${part.groupId} raised: ${(err as Error).message}`);
    await failChord(env, backend, body, new ChordError(`Callback error: ${describe(err)}`));
  }
  return true;
}

const describe = (err: unknown): string =>
  err instanceof Error ? `${err.name}(${JSON.stringify(err.message)})` : String(err);

/**
 * Celery's `chord_error_from_stack`: the body's errbacks are called for a made-up request with the
 * body's id, then the body's result is stored as FAILURE with the ChordError (or with what an errback
 * raised).
 */
export async function failChord(
  env: ErrbackEnv,
  backend: ResultBackend | null,
  body: SignatureJson | null | undefined,
  err: ChordError,
): Promise<void> {
  const o = (body?.options ?? {}) as Record<string, unknown>;
  const id = typeof o.task_id === 'string' ? o.task_id : null;
  if (!id) return;
  let exc = serializeError(err);
  const request: ErrbackRequest = Object.freeze({
    id,
    name: typeof body?.task === 'string' ? body.task : null,
    args: Array.isArray(body?.args) ? body.args : [],
    kwargs: body?.kwargs ?? {},
    rootId: typeof o.root_id === 'string' ? o.root_id : null,
    parentId: typeof o.parent_id === 'string' ? o.parent_id : null,
    groupId: typeof o.group_id === 'string' ? o.group_id : null,
    groupIndex: typeof o.group_index === 'number' ? o.group_index : null,
    retries: 0,
    hostname: env.hostname,
  });
  try {
    await callErrbacks(env, request, Array.isArray(o.link_error) ? o.link_error : [], exc, null);
  } catch (ebErr) {
    exc = serializeError(ebErr);
  }
  await backend?.store(buildMeta(id, 'FAILURE', exc, null, new Date()), {
    expires: env.target.resultExpires,
  });
}

/** A request's own fields as an ErrbackRequest. */
export function errbackRequest(req: TaskRequest, hostname: string): ErrbackRequest {
  return Object.freeze({
    id: req.id,
    name: req.name,
    args: req.args,
    kwargs: req.kwargs,
    rootId: req.rootId,
    parentId: req.parentId,
    groupId: req.group,
    groupIndex: req.groupIndex,
    retries: req.retries,
    hostname,
  });
}
