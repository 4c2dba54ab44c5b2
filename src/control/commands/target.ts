/**
 * What the core remote-control commands read and steer in a worker: a narrow view the Worker implements
 * (worker/remote.ts builds it), so the commands never reach into the consumer's or the pools' privates.
 */
import type { Settings } from '../../app/config.js';
import type { Broker } from '../../brokers/broker.js';
import type { TaskRun } from '../../middleware/middleware.js';
import type { AnyTask } from '../../task/task.js';
import type { LamportClock } from '../../util/lamport.js';
import type { Logger } from '../../util/log.js';
import type { Autoscaler } from '../../worker/autoscale.js';
import type { Pool } from '../../worker/pools/pool.js';

/** A task queue the worker consumes, with what `add_consumer` said about it (kombu's Queue fields). */
export interface QueueSpec {
  readonly name: string;
  readonly exchange: string;
  readonly exchangeType: string;
  readonly routingKey: string;
  /** Extra kombu Queue options from add_consumer (`queue_arguments`, `durable` …), reported as given. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** A run the worker holds, with when it started and where (Celery's Request.info fields). */
export interface HeldRun {
  readonly run: TaskRun;
  /** Epoch seconds when the pool started it; null while it waits. */
  readonly timeStart: number | null;
  readonly workerPid: number | null;
}

export interface ControlTarget {
  readonly hostname: string;
  /** The worker's resolved settings. */
  readonly conf: Readonly<Settings>;
  readonly tasks: ReadonlyMap<string, AnyTask>;
  readonly clock: LamportClock;
  readonly logger: Logger;
  readonly broker: Broker;
  /** The worker's own stats (total, pid, uptime, pool, prefetch_count …). */
  stats(): Record<string, unknown>;
  /** Running now, waiting for a slot or held by a middleware (rate limit), waiting for an ETA. */
  inventory(): { active: HeldRun[]; reserved: TaskRun[]; scheduled: TaskRun[] };
  /** The main pool and, for a mixed worker, the CPU pool, each with its autoscaler when it has one. */
  pools(): { pool: Pool; autoscaler: Autoscaler | null }[];
  /** The pools changed size: hand out new slots and move the prefetch window by `slots`. */
  resized(slots: number): void;
  queues(): readonly QueueSpec[];
  /** Start or stop consuming a queue; resolves once the broker consumer has been re-created. */
  addQueue(spec: QueueSpec): Promise<void>;
  cancelQueue(name: string): Promise<void>;
  /** Warm shutdown, started after the current command returns. */
  shutdown(): void;
}
