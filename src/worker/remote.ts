/**
 * The worker's side of remote control, put together: the ControlTarget the core commands read
 * (src/control/commands/), mingle at start-up, and the pidbox Mailbox with the core commands plus every
 * middleware's `control` map. Runs only when `workerEnableRemoteControl` is on and the broker carries
 * broadcasts; otherwise it says once, at info level, why the worker is not listening.
 */
import type { App } from '../app/app.js';
import type { Broker } from '../brokers/broker.js';
import { type ControlTarget, coreCommands } from '../control/commands/index.js';
import { Mailbox } from '../control/mailbox.js';
import { mingle } from '../control/mingle.js';
import type { WorkerHooks } from '../middleware/hooks.js';
import { type RevokeHooks, revokedFromWire, revokedToWire } from '../middleware/revoke.js';
import type { Logger } from '../util/log.js';

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
