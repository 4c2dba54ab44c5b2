/**
 * Celery's RabbitMQ topology (../shared/docs/celery-wire.md §3), declared exactly as Celery declares it so
 * Python and TypeScript peers can share queues without "inequivalent arg" errors:
 *  - a task queue Q is durable, bound to a durable direct exchange named Q with routing key Q (for the
 *    default queue that is the `celery` exchange). Messages are published to the default exchange '' with
 *    routing key Q, as Celery does; the named exchange only exists for peers that publish to it.
 *  - `x-max-priority` when configured, `x-queue-type: quorum` for quorum queues.
 *  - delayed delivery (kombu's "native delayed delivery", Celery ≥ 5.5): 28 topic exchanges and queues
 *    `celery_delayed_<level>`; the queue of level L holds messages for 2^L seconds (queue TTL, so no head
 *    of line blocking) and dead-letters them to level L-1; a message is routed through the levels whose
 *    bit is set in its delay, written as 28 binary digits in front of its routing key. Level 0 ends in the
 *    topic exchange `celery_delayed_delivery`, to which each target queue is bound (bindDelayedTarget).
 *    Same names and arguments as Celery 5.5+, so a Celery client's delayed tasks reach our workers too.
 */
import type { Channel } from 'amqplib';
import type { AmqpOptions, QueueType } from '../../drivers/amqp/options.js';
import { toFieldTable } from '../../drivers/amqp/table.js';

export const DELAY_LEVELS = 28;
/** The longest delay delayed delivery can express: 2^28 - 1 seconds (about 8.5 years). */
export const MAX_DELAY_SECONDS = 2 ** DELAY_LEVELS - 1;
export const DELAYED_DELIVERY_EXCHANGE = 'celery_delayed_delivery';
export const delayLevelName = (level: number): string => `celery_delayed_${level}`;

export function taskQueueArguments(o: AmqpOptions): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (o.maxPriority !== null) args['x-max-priority'] = o.maxPriority;
  if (o.queueType === 'quorum') args['x-queue-type'] = 'quorum';
  return args;
}

/** Declare a task queue, its direct exchange and the binding, as Celery does for a missing queue. */
export async function declareTaskQueue(ch: Channel, queue: string, o: AmqpOptions): Promise<void> {
  await ch.assertExchange(queue, 'direct', { durable: true, autoDelete: false });
  await ch.assertQueue(queue, {
    durable: true,
    exclusive: false,
    autoDelete: false,
    arguments: toFieldTable(taskQueueArguments(o)),
  });
  await ch.bindQueue(queue, queue, queue);
}

/** The routing key of a message delayed by `seconds`: 28 binary digits joined by dots, then the key. */
export function delayedRoutingKey(seconds: number, routingKey: string): string {
  const bits = seconds.toString(2).padStart(DELAY_LEVELS, '0');
  return `${bits.split('').join('.')}.${routingKey}`;
}

/** Declare the 28 delay levels and the delivery exchange (idempotent; ~110 round trips, once per connection). */
export async function declareDelayTopology(ch: Channel, queueType: QueueType): Promise<void> {
  // Level L's queue takes messages whose bit L is 1: skip (27 - L) words, match '1', then anything.
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) {
    const name = delayLevelName(level);
    await ch.assertExchange(name, 'topic', { durable: true, autoDelete: false });
    const args: Record<string, unknown> = {
      'x-queue-type': queueType,
      'x-overflow': 'reject-publish',
      'x-message-ttl': 2 ** level * 1000,
      'x-dead-letter-exchange': level > 0 ? delayLevelName(level - 1) : DELAYED_DELIVERY_EXCHANGE,
    };
    // Quorum queues dead-letter at least once (not at most once) only with this strategy.
    if (queueType === 'quorum') args['x-dead-letter-strategy'] = 'at-least-once';
    await ch.assertQueue(name, { durable: true, autoDelete: false, arguments: toFieldTable(args) });
    await ch.bindQueue(name, name, `${'*.'.repeat(DELAY_LEVELS - 1 - level)}1.#`);
  }
  // A message whose bit L is 0 falls through from exchange L to exchange L-1 (and level 0 to delivery).
  await ch.assertExchange(DELAYED_DELIVERY_EXCHANGE, 'topic', { durable: true, autoDelete: false });
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) {
    const next = level > 0 ? delayLevelName(level - 1) : DELAYED_DELIVERY_EXCHANGE;
    await ch.bindExchange(next, delayLevelName(level), `${'*.'.repeat(DELAY_LEVELS - 1 - level)}0.#`);
  }
}

/**
 * Route delayed messages for `queue` from the delivery exchange into it. Celery binds `#.<routing key>`,
 * which also matches a queue whose name ends in `.<queue>`; 28 single-word wildcards match exactly the
 * 28 delay digits, and still every message a Celery client delays for this queue.
 */
export async function bindDelayedTarget(ch: Channel, queue: string): Promise<void> {
  await ch.bindQueue(queue, DELAYED_DELIVERY_EXCHANGE, `${'*.'.repeat(DELAY_LEVELS)}${queue}`);
}
