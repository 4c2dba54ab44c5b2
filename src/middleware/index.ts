/**
 * The built-in middleware, in the order their hooks run. The order matters where one feeds another:
 * revoke before time limits and blocking (a revoked task never starts), events right after revoke (a task
 * revoked on arrival sends task-revoked and no task-received, as in Celery, and task-received leaves
 * before rate limits and ETA waits hold the task), acks decides before anything
 * settles, retries publish the retry before results store RETRY, callbacks (links, the next chain step,
 * a replacement) are published before results store the task's state, so the stored meta lists them as
 * its `children` (Celery's tracer order); a chord part is counted, and errbacks called, after the state
 * is stored (Celery's mark_as_done/mark_as_failure: an errback may read the failed result); signals go
 * out last, once settled.
 */
import { acks } from './acks.js';
import { blocking } from './blocking.js';
import { callbacks } from './callbacks.js';
import { chord } from './chord.js';
import { deadLetter } from './dead-letter.js';
import { errbacks } from './errbacks.js';
import { type EventsMiddlewareOptions, events } from './events.js';
import { logging } from './logging.js';
import type { Middleware } from './middleware.js';
import { rateLimit } from './rate-limit.js';
import { results } from './results.js';
import { retries } from './retries.js';
import { revoke } from './revoke.js';
import { signals } from './signals.js';
import { timeLimits } from './time-limits.js';

/**
 * A fresh list per app: a middleware's hooks keep per-worker state in what its `worker()` returns.
 * `events` is told how to reach the app (its clock and broker), which is built after this list.
 */
export function builtinMiddleware(
  eventsOptions: EventsMiddlewareOptions = { host: () => undefined },
): Middleware[] {
  return [
    logging(),
    revoke(),
    events(eventsOptions),
    rateLimit(),
    timeLimits(),
    blocking(),
    acks(),
    retries(),
    callbacks(),
    results(),
    chord(),
    errbacks(),
    deadLetter(),
    signals(),
  ];
}
