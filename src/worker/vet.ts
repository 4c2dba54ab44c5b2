/**
 * Vetting: what the consumer checks of a delivery before it reserves it. A message the transport could
 * not decode, one over workerMessageSizeLimit, one that does not parse as a Celery task message, or one
 * for a task this worker does not know becomes an Unusable report (the consumer hands it to the
 * `unusable` hooks and rejects it); any other gives its request and task. Its own module because it
 * decides only from the message and the app's settings and tasks, never from the consumer's state.
 */
import type { Delivery } from '../brokers/broker.js';
import { MessageTooLarge, NotRegistered } from '../errors.js';
import type { Unusable, WorkerScope } from '../middleware/middleware.js';
import { parseTaskMessage, type TaskRequest } from '../protocol/message.js';
import type { AnyTask } from '../task/task.js';

export type Vetted = { ok: true; request: TaskRequest; task: AnyTask } | { ok: false; unusable: Unusable };

function unusable(
  delivery: Delivery,
  kind: Unusable['kind'],
  error: Error,
  id: string | null,
  name: string | null,
  request: TaskRequest | null = null,
): Vetted {
  return { ok: false, unusable: { delivery, kind, error, id, name, request } };
}

/** Can this delivery run here? Its request and task, or why not as an Unusable. */
export function vetDelivery(delivery: Delivery, scope: Pick<WorkerScope, 'conf' | 'tasks'>): Vetted {
  const { conf, tasks } = scope;
  const msg = delivery.message;
  if (delivery.undecodable) {
    // The transport could not read the envelope: the message holds its raw bytes. Dead-lettered (and
    // failed, when an id could be read) like any message that cannot run, never dropped.
    const id = typeof msg.headers.id === 'string' ? msg.headers.id : null;
    const name = typeof msg.headers.task === 'string' ? msg.headers.task : null;
    return unusable(delivery, 'undecodable', delivery.undecodable, id, name);
  }
  if (msg.body.length > conf.workerMessageSizeLimit) {
    const id = typeof msg.headers.id === 'string' ? msg.headers.id : null;
    const name = typeof msg.headers.task === 'string' ? msg.headers.task : null;
    const err = new MessageTooLarge(msg.body.length, conf.workerMessageSizeLimit);
    return unusable(delivery, 'too-large', err, id, name);
  }
  const parsed = parseTaskMessage(msg, conf.acceptContent, conf.workerMessageSizeLimit);
  if (!parsed.ok) {
    const kind = parsed.error instanceof MessageTooLarge ? 'too-large' : 'undecodable';
    return unusable(delivery, kind, parsed.error, parsed.id, parsed.name);
  }
  const req = parsed.request;
  const task = tasks.get(req.name);
  // As Celery: a FAILURE result with NotRegistered under the task id, and the message taken off the queue.
  if (!task) return unusable(delivery, 'unregistered', new NotRegistered(req.name), req.id, req.name, req);
  return { ok: true, request: req, task };
}

/** A delivery whose handling threw unexpectedly: reported as unusable ('internal') under what its headers say. */
export function internalUnusable(delivery: Delivery, err: unknown): Unusable {
  const e = err instanceof Error ? err : new Error(String(err));
  const h = delivery.message.headers ?? {};
  return {
    delivery,
    kind: 'internal',
    error: new Error(`internal error: ${e.message}`, { cause: e }),
    id: typeof h.id === 'string' && h.id ? h.id : null,
    name: typeof h.task === 'string' ? h.task : null,
    request: null,
  };
}
