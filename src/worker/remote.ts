/**
 * The worker's side of remote control, put together: the ControlTarget the core commands read
 * (src/control/commands/), mingle at start-up, and the pidbox Mailbox with the core commands plus every
 * middleware's `control` map. Runs only when `workerEnableRemoteControl` is on and the broker carries
 * broadcasts; otherwise it says once, at info level, why the worker is not listening.
 */
import type { App } from '../app/app.js';
import type { Broker } from '../brokers/broker.js';
import { type ControlTarget, coreCommands, type QueueSpec } from '../control/commands/index.js';
import { Mailbox } from '../control/mailbox.js';
import { mingle } from '../control/mingle.js';
import type { WorkerHooks } from '../middleware/hooks.js';
import { type RevokeHooks, revokedFromWire, revokedToWire } from '../middleware/revoke.js';
import type { Logger } from '../util/log.js';
import type { WorkerConfig } from './config.js';
import type { TaskConsumer } from './consumer.js';

/** Can this worker be remote-controlled? Null when it can, else why not. */
export function remoteControlOff(app: App, broker: Broker): string | null {
  if (!app.conf.workerEnableRemoteControl) return 'workerEnableRemoteControl is off';
  if (!broker.broadcast || !broker.capabilities.broadcast)
    return `the ${broker.transport} broker carries no broadcasts`;
  return null;
}

/** Mingle: sync revoked ids and the clock with the workers already running. */
export function runMingle(app: App, hostname: string, logger: Logger, revoke: RevokeHooks | undefined) {
  return mingle({
    hostname,
    inspect: app.control.inspect({ timeout: 1 }),
    clock: app.clock,
    logger,
    ...(revoke
      ? {
          revoked: {
            snapshot: () => revokedToWire(revoke.snapshot()),
            merge: (ids: unknown) => revoke.merge(revokedFromWire(ids)),
          },
        }
      : {}),
  });
}

/** Start listening on the worker's pidbox queue. */
export async function startMailbox(
  app: App,
  broker: Broker,
  target: ControlTarget,
  hooks: WorkerHooks,
): Promise<Mailbox> {
  const conf = target.conf;
  const mailbox = new Mailbox({
    broadcast: broker.broadcast as NonNullable<Broker['broadcast']>,
    hostname: target.hostname,
    clock: app.clock,
    logger: target.logger,
    handlers: hooks.controls(coreCommands(target)),
    exchange: conf.controlExchange,
    accept: conf.acceptContent,
    serializer: conf.taskSerializer,
    queueTtl: conf.controlQueueTtl,
    queueExpires: conf.controlQueueExpires,
  });
  await mailbox.start();
  return mailbox;
}

/** What the control target reads of the worker's public side (worker.ts's Worker). */
export interface ControlledWorker {
  readonly app: App;
  readonly hostname: string;
  readonly config: WorkerConfig;
  readonly logger: Logger;
  stats(): Record<string, unknown>;
  stop(): Promise<void>;
}

/** The worker's private parts the commands read and steer. */
export interface ControlParts {
  consumer: TaskConsumer;
  pools: ControlTarget['pools'];
  queues(): QueueSpec[];
  /** Re-create the broker consumer on these queues (worker.ts serializes the changes). */
  changeQueues(next: QueueSpec[]): Promise<void>;
}

/** What the remote-control commands read and steer (control/commands/target.ts). */
export function controlTarget(worker: ControlledWorker, broker: Broker, parts: ControlParts): ControlTarget {
  const { consumer } = parts;
  return {
    hostname: worker.hostname,
    conf: worker.config.conf,
    tasks: worker.app.tasks,
    clock: worker.app.clock,
    logger: worker.logger,
    broker,
    stats: () => worker.stats(),
    inventory: () => {
      const inv = consumer.inventory();
      return {
        active: inv.active.map((r) => ({ run: r, timeStart: r.timeStart, workerPid: r.workerPid })),
        reserved: inv.reserved,
        scheduled: inv.scheduled,
      };
    },
    pools: parts.pools,
    resized: (slots) => consumer.resize(slots * worker.config.conf.workerPrefetchMultiplier),
    queues: parts.queues,
    addQueue: (spec) =>
      parts.queues().some((q) => q.name === spec.name)
        ? Promise.resolve()
        : parts.changeQueues([...parts.queues(), spec]),
    cancelQueue: (name) => parts.changeQueues(parts.queues().filter((q) => q.name !== name)),
    shutdown: () => {
      setImmediate(() => {
        worker.stop().catch((err: Error) => worker.logger.log('error', `shutdown failed: ${err.message}`));
      });
    },
  };
}
