/**
 * The queues a worker consumes and the one broker consumer made for them. Remote control's add_consumer
 * and cancel_consumer (remote.ts) change the set at once, and the broker consumer is re-created for it:
 * the old one is cancelled first, so the prefetch window stays one window, and its deliveries stay
 * settleable, so nothing is lost. Its own module because this is state of its own (the wanted set, the
 * consumed set, the chain of changes) that only start, stop and remote control touch; the worker
 * (worker.ts) only says when it starts and stops.
 */
import type { Broker, Consumer } from '../brokers/broker.js';
import type { QueueSpec } from '../control/commands/index.js';
import type { Logger } from '../util/log.js';
import type { TaskConsumer } from './consumer.js';

export interface ConsumedQueuesOptions {
  hostname: string;
  logger: Logger;
  /** Is the worker running? A change is applied only then. */
  running: () => boolean;
}

export class ConsumedQueues {
  readonly #o: ConsumedQueuesOptions;
  /** The queues to consume (changed at once by remote control), and those the broker consumer was made for. */
  #queues: QueueSpec[];
  #consumed: readonly string[] = [];
  #queueChange: Promise<void> = Promise.resolve();
  #broker: Broker | null = null;
  #consumer: TaskConsumer | null = null;
  #brokerConsumer: Consumer | null = null;
  /** Errors the broker consumer reported and retried past (reconnects): `broker-errors` in stats. */
  #brokerErrors = 0;

  constructor(names: readonly string[], options: ConsumedQueuesOptions) {
    this.#o = options;
    this.#queues = names.map((name) => ({
      name,
      exchange: name,
      exchangeType: 'direct',
      routingKey: name,
      options: {},
    }));
  }

  /** The names of the queues to consume. */
  get names(): string[] {
    return this.#queues.map((q) => q.name);
  }
  /** The queues to consume, as remote control reports them. */
  get specs(): QueueSpec[] {
    return this.#queues;
  }
  get brokerErrors(): number {
    return this.#brokerErrors;
  }

  setPrefetch(n: number): void {
    this.#brokerConsumer?.setPrefetch(n);
  }

  /** Start consuming the queues, for `consumer`'s deliveries. */
  async start(broker: Broker, consumer: TaskConsumer): Promise<void> {
    this.#broker = broker;
    this.#consumer = consumer;
    this.#consumed = this.names;
    this.#brokerConsumer = await this.#consume(this.#consumed);
  }

  /** Cancel the broker consumer (a start that failed). */
  cancel(): Promise<void> | undefined {
    return this.#brokerConsumer?.cancel();
  }

  /** Wait for the change under way, then cancel the broker consumer (a stop). */
  async stop(): Promise<void> {
    await this.#queueChange;
    await this.#brokerConsumer?.cancel();
  }

  #consume(queues: readonly string[]): Promise<Consumer | null> {
    const consumer = this.#consumer as TaskConsumer;
    if (!queues.length) return Promise.resolve(null);
    return (this.#broker as Broker).consume(queues, (d) => consumer.receive(d), {
      prefetch: consumer.prefetch,
      onError: (err) => {
        this.#brokerErrors++;
        this.#o.logger.log('error', `consumer: ${err.message}; retrying`);
      },
    });
  }

  /**
   * Consume `next` instead. `#queues` takes it at once: remote control replies before the broker consumer
   * is re-created, and the next change must build on this one (an add, cancel, add in a row lost the last
   * add). The changes run in turn, each applying the latest set, or nothing if the consumer has it.
   */
  change(next: QueueSpec[]): Promise<void> {
    this.#queues = next;
    const run = async () => {
      if (!this.#o.running()) return;
      const names = this.names;
      if (names.join('\0') === this.#consumed.join('\0')) return;
      await this.#brokerConsumer?.cancel();
      this.#brokerConsumer = null;
      this.#consumed = names;
      const created = await this.#consume(names);
      // A stop that began meanwhile has cancelled nothing new: cancel this one here.
      if (this.#o.running()) this.#brokerConsumer = created;
      else await created?.cancel();
      this.#o.logger.log('info', `${this.#o.hostname}: consuming ${names.join(',') || 'no queues'}`);
    };
    this.#queueChange = this.#queueChange.then(run, run);
    return this.#queueChange;
  }
}
