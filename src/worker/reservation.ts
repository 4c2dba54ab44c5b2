/**
 * A message taken for running. It is the TaskRun every hook sees and the Job its pool runs: one object
 * per task, with the callbacks on the prototype, because closures per task are measurable garbage at
 * thousands of tasks a second.
 */
import type { Delivery } from '../brokers/broker.js';
import type { Disposition, TaskRun } from '../middleware/middleware.js';
import type { TaskRequest } from '../protocol/message.js';
import type { AnyTask } from '../task/task.js';
import type { Deque } from '../util/deque.js';
import type { Job, Pool } from './pools/pool.js';

/** One pool and the reservations waiting for a slot in it. */
export interface Lane {
  pool: Pool;
  ready: Deque<Reservation>;
}

/** What a reservation calls back into: the consumer's own handlers, made once (not per task). */
export interface ReservationOwner {
  started(r: Reservation, info?: { pid: number }): void;
  updateState(r: Reservation, state: string, meta: unknown): Promise<void>;
}

export class Reservation implements TaskRun, Job {
  acked = false;
  /** Set when a cold shutdown gave the message up: its outcome is ignored. */
  abandoned = false;
  /** Set when revoke --terminate settled it while it ran: the pool's late outcome is ignored. */
  terminated = false;
  hardLimit: number | null = null;
  softLimit: number | null = null;
  disposition: Disposition | null = null;
  loopActivity: unknown = null;
  children: unknown[] | null = null;
  /** Epoch seconds when the pool started it, and the process running it (inspect active's time_start, worker_pid). */
  timeStart: number | null = null;
  workerPid: number | null = null;
  readonly onLoop: boolean;

  constructor(
    readonly owner: ReservationOwner,
    readonly delivery: Delivery,
    readonly request: TaskRequest,
    readonly task: AnyTask,
    readonly lane: Lane,
  ) {
    this.onLoop = lane.pool.onLoop === true;
  }

  onStart(info?: { pid: number }): void {
    this.timeStart = Date.now() / 1000;
    this.workerPid = info?.pid ?? process.pid;
    this.owner.started(this, info);
  }

  updateState(state: string, meta: unknown): Promise<void> {
    return this.owner.updateState(this, state, meta);
  }
}
