/**
 * The built-in middleware, in the order their hooks run. The order matters where one feeds another:
 * revoke before time limits and blocking (a revoked task never starts), acks decides before anything
 * settles, retries publish the retry before results store RETRY, results are stored before callbacks
 * are published (a callback may read its parent's result), and signals go out last, once settled.
 */
import { acks } from './acks.js';
import { blocking } from './blocking.js';
import { callbacks } from './callbacks.js';
import { deadLetter } from './dead-letter.js';
import { logging } from './logging.js';
import type { Middleware } from './middleware.js';
import { rateLimit } from './rate-limit.js';
import { results } from './results.js';
import { retries } from './retries.js';
import { revoke } from './revoke.js';
import { signals } from './signals.js';
import { timeLimits } from './time-limits.js';

/** A fresh list per app: a middleware's hooks keep per-worker state in what its `worker()` returns. */
export function builtinMiddleware(): Middleware[] {
  return [
    logging(),
    revoke(),
    rateLimit(),
    timeLimits(),
    blocking(),
    acks(),
    retries(),
    results(),
    callbacks(),
    deadLetter(),
    signals(),
  ];
}
