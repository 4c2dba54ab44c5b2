/**
 * Chords: a header task that reached its final state (SUCCESS, FAILURE, or REVOKED without running)
 * counts as one finished part of its chord, after its own state is stored, as Celery's
 * `Backend.mark_as_done/failure/revoked` call `on_chord_part_return`. The backend's counter
 * (`chordPartReturn`; on Redis Celery's own `.j/.s/.t` keys, so Python workers share the chord) says
 * whether this part completed it; then the body is applied with the header's results in group order,
 * or, when a part failed, the body is not run: its result is stored as FAILURE with Celery's ChordError
 * ("Dependency <id> raised ValueError('…')") and its errbacks are called (worker/workflow.ts).
 * Backends with chords 'unlock' need nothing here: the `celery.chord_unlock` task polls the header.
 */

import { TaskRevokedError } from '../errors.js';
import { buildMeta, serializeError } from '../protocol/result.js';
import { type Outcome, revokedReason } from '../task/outcome.js';
import { finishChordPart } from '../worker/workflow.js';
import { workflowEnv } from './errbacks.js';
import type { Middleware, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

function finalState(outcome: Outcome): [string, unknown, string | null] | null {
  switch (outcome.kind) {
    case 'success':
      return ['SUCCESS', outcome.value, null];
    case 'failure':
      return ['FAILURE', outcome.exc, outcome.traceback];
    case 'revoked':
      return ['REVOKED', serializeError(new TaskRevokedError(revokedReason(outcome))), null];
    default:
      return null; // retry, reject, ignore (a replacement carries the chord on): not a finished part
  }
}

export function chord(): Middleware {
  return {
    name: 'chord',
    worker(scope: WorkerScope): WorkerMiddleware | undefined {
      const { backend } = scope;
      if (!backend) return undefined;
      const env = workflowEnv(scope);
      return {
        settle(run: TaskRun, outcome: Outcome) {
          const req = run.request;
          if (!req.embed.chord || !req.group) return null;
          if (run.disposition && !run.disposition.final) return null;
          const state = finalState(outcome);
          if (!state) return null;
          const meta = buildMeta(req.id, state[0], state[1], state[2], new Date(), { groupId: req.group });
          return finishChordPart(env, backend, {
            groupId: req.group,
            index: req.groupIndex,
            meta,
            body: req.embed.chord,
            rootId: req.rootId,
          }).then(() => {});
        },
      };
    },
  };
}
