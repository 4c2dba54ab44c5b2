/**
 * The typed messages between a `--processes` parent (supervisor.ts) and its children (child.ts), one union
 * per direction, discriminated by `type`. JSON over the fork channel: everything here is plain data, and
 * control replies go on to the pidbox as JSON anyway.
 *
 * Parent → child: a remote-control `control` request to answer, the `doomed` ids (tasks whose child was
 * killed past their hard time limit: settled, never run again), `stop` (warm, or cold).
 * Child → parent: `ready` once its worker consumes, a `report` of the tasks that started and finished
 * since the last one (batched per event-loop turn), the `controlReply`, and `recycle` when the child
 * reached its task or memory limit and is draining (the parent starts its replacement at once).
 */

/** The CLI marks a child with this variable; its value is the child's index (0 … N-1). */
export const CLUSTER_CHILD_ENV = 'CELERIAC_CLUSTER_CHILD';

/** A task that started in a child: [id, name, hard limit in seconds or null, acked when it started]. */
export type Started = [id: string, name: string, hard: number | null, acked: boolean];

export type ToChild =
  | { type: 'control'; seq: number; method: string; args: Record<string, unknown> }
  /** [task id, its hard limit in seconds]. */
  | { type: 'doomed'; tasks: Array<[string, number]> }
  | { type: 'stop'; cold: boolean };

export type FromChild =
  | { type: 'ready'; pid: number }
  | { type: 'report'; started: Started[]; ended: string[] }
  | { type: 'controlReply'; seq: number; reply: unknown }
  | { type: 'recycle'; why: string };
