/**
 * Callbacks: what a task sets off when it succeeds, or when it replaced itself, applied BEFORE its own
 * result is stored, as Celery's tracer does, so the stored meta lists them in `children` and Python's
 * `AsyncResult.children` finds them (celery/app/trace.py: "callback tasks must be applied before the
 * result is stored, so that result.children is populated"):
 *  - the `link` callbacks with the result prepended to their args: one alone is applied as it is; several
 *    are sent as one group (Celery does so, and records that GroupResult), groups among them separately;
 *  - then the next chain step (the last element of `embed.chain`, with the rest as its chain);
 *  - for `currentTask().replace(sig)`: the replacement under the task's own id (Celery's Task.replace).
 * Signatures of any kind are applied by worker/canvas.ts (a chord step stores its size and publishes
 * its header, as a Python worker does). Published before the ack, so a crash in between duplicates a
 * callback rather than loses it.
 *
 * It also checks the canvas a message carries before the task runs: a malformed callback, errback,
 * chain step or chord body fails the task with a CanvasError saying what is wrong (the worker goes on),
 * instead of a step dropped silently after the task ran. Deeper canvas errors found while applying
 * (a chord on a backend without chords) turn the success into that failure, as Celery's tracer does.
 */
import { CanvasError, ChordsUnsupported } from '../errors.js';
import { signatureProblem } from '../protocol/canvas.js';
import type { SignatureJson, TaskRequest } from '../protocol/message.js';
import { failure, type Outcome } from '../task/outcome.js';
import { applySignature, toSignature } from '../worker/canvas.js';
import { canvasTarget } from './errbacks.js';
import type { Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

/** The first problem with the canvas embedded in a request, or null. */
export function embedProblem(req: TaskRequest): string | null {
  const e = req.embed;
  // Most messages carry no canvas at all: nothing to check, nothing allocated (this runs per task).
  if (e.callbacks === null && e.errbacks === null && e.chain === null && e.chord === null) return null;
  const lists = [
    ['embed.callbacks', req.embed.callbacks],
    ['embed.errbacks', req.embed.errbacks],
    ['embed.chain', req.embed.chain],
  ] as const;
  for (const [where, sigs] of lists)
    for (const [i, s] of (sigs ?? []).entries()) {
      const p = signatureProblem(s, `${where}[${i}]`);
      if (p) return p;
    }
  return req.embed.chord === null ? null : signatureProblem(req.embed.chord, 'embed.chord');
}

const groupOf = (tasks: SignatureJson[]): SignatureJson => ({
  task: 'celery.group',
  args: [],
  kwargs: { tasks },
  options: {},
  subtask_type: 'group',
  immutable: false,
});

/** Turn `outcome` (a success, so far) into the failure `err` is: the later settle hooks see that. */
function failInstead(outcome: Outcome, err: unknown): void {
  const f = failure(err, outcome.runtime);
  for (const k of Object.keys(outcome)) if (k !== 'children') delete (outcome as Record<string, unknown>)[k];
  Object.assign(outcome, f);
}

export function callbacks(): Middleware {
  return {
    name: 'callbacks',
    worker(scope: WorkerScope): WorkerMiddleware {
      const target = canvasTarget(scope);
      const record = (run: TaskRun, tuple: unknown) => {
        run.children ??= [];
        run.children.push(tuple);
      };

      const afterSuccess = async (run: TaskRun, value: unknown): Promise<void> => {
        const req = run.request;
        const extra = { parent_id: req.id, root_id: req.rootId };
        const cbs = req.embed.callbacks ?? [];
        if (cbs.length === 1) record(run, (await applySignature(target, cbs[0], [value], extra)).trail);
        else if (cbs.length > 1) {
          const sigs = cbs.map((s, i) => toSignature(s, `embed.callbacks[${i}]`));
          for (const g of sigs.filter((s) => s.subtask_type === 'group'))
            record(run, (await applySignature(target, g, [value], extra)).trail);
          const plain = sigs.filter((s) => s.subtask_type !== 'group');
          if (plain.length) record(run, (await applySignature(target, groupOf(plain), [value], extra)).trail);
        }
        const chain = req.embed.chain ? [...req.embed.chain] : [];
        const next = chain.pop();
        if (next) {
          const opts = { ...extra, ...(chain.length ? { chain } : {}) };
          record(run, (await applySignature(target, next, [value], opts, 'embed.chain')).trail);
        }
      };

      /** Celery's Task.replace: the replacement inherits the id, group, chord, callbacks and chain. */
      const replace = async (run: TaskRun, raw: unknown): Promise<void> => {
        const req = run.request;
        let sig = toSignature(raw, 'replacement');
        if ('chord' in sig.options)
          throw new CanvasError('A signature replacing a task must not be part of a chord');
        if (sig.subtask_type === 'group')
          // Groups become a chord with celery.accumulate as the body, so that callbacks can be linked.
          sig = {
            task: 'celery.chord',
            args: [],
            kwargs: {
              kwargs: {},
              header: sig,
              body: {
                task: 'celery.accumulate',
                args: [],
                kwargs: { index: 0 },
                options: {},
                subtask_type: null,
                immutable: false,
              },
            },
            options: {},
            subtask_type: 'chord',
            immutable: false,
          };
        const list = (v: unknown) => (Array.isArray(v) ? v : []);
        const extra: Record<string, unknown> = { task_id: req.id, root_id: req.rootId, parent_id: req.id };
        if (req.embed.chord) extra.chord = req.embed.chord;
        if (req.group) extra.group_id = req.group;
        if (req.groupIndex !== null) extra.group_index = req.groupIndex;
        if (req.embed.callbacks) extra.link = [...list(sig.options.link), ...req.embed.callbacks];
        if (req.embed.errbacks) extra.link_error = [...list(sig.options.link_error), ...req.embed.errbacks];
        if (req.embed.chain) extra.chain = [...list(sig.options.chain), ...req.embed.chain];
        await applySignature(target, sig, [], extra, 'replacement');
      };

      const contained = (outcome: Outcome, work: Promise<void>): Promise<void> =>
        work.catch((err: unknown) => {
          // What Celery's tracer fails the task for; broker and backend errors go on up (not recorded).
          if (err instanceof CanvasError || err instanceof ChordsUnsupported || err instanceof TypeError)
            failInstead(outcome, err);
          else throw err;
        });

      return {
        received(run) {
          const problem = embedProblem(run.request);
          return problem ? failure(new CanvasError(problem), 0) : null;
        },
        settle(run, outcome) {
          if (run.disposition && !run.disposition.final) return null;
          const embed = run.request.embed;
          if (outcome.kind === 'success' && (embed.chain || embed.callbacks))
            return contained(outcome, afterSuccess(run, outcome.value));
          if (outcome.kind === 'ignore' && outcome.replacement)
            return contained(outcome, replace(run, outcome.replacement));
          return null;
        },
      };
    },
  };
}
