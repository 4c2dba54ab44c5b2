/**
 * The worker's own remote-control commands (inspect.ts reads, manage.ts changes), by Celery's method
 * names. The mailbox adds every middleware's `control` map to these (rate_limit, time_limit, revoke,
 * revoked, hello, enable_events …).
 */
import type { ControlHandler } from '../../middleware/middleware.js';
import { inspectCommands } from './inspect.js';
import { manageCommands } from './manage.js';
import type { ControlTarget } from './target.js';

export type { ControlTarget, HeldRun, QueueSpec } from './target.js';

export function coreCommands(t: ControlTarget): Map<string, ControlHandler> {
  return new Map(Object.entries({ ...inspectCommands(t), ...manageCommands(t) }));
}
