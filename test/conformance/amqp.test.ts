import type { ResultBackend, ResultOrigin, StoreOptions } from '../../src/backends/backend.js';
import { RpcBackend } from '../../src/backends/rpc/index.js';
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import type { ResultMeta } from '../../src/protocol/result.js';
import { RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { skipUnless, uniq } from '../helpers/services.js';
import { backendConformance } from './backend.js';
import { brokerConformance } from './broker.js';

const skip = await skipUnless(RABBIT_PORT);
const vhostUrl = usePrivateVhost(skip);

const urlOf = () => {
  return new URL(vhostUrl());
};

// requeue 'any' for both: RabbitMQ puts a requeued message back at its original position only "if
// possible" (its docs). A CI run saw the next message of a classic priority queue delivered first.
brokerConformance(
  'amqp (classic queues, x-max-priority 10)',
  async () => ({ create: async () => new AmqpBroker(urlOf(), { maxPriority: 10 }) }),
  { skip, requeue: 'any' },
);

brokerConformance(
  'amqp (quorum queues)',
  async () => ({ create: async () => new AmqpBroker(urlOf(), { queueType: 'quorum' }) }),
  { skip, requeue: 'any' },
);

/**
 * rpc:// results are a stream of messages to the client's own reply queue, so the suite runs with every
 * backend of a harness sharing one reply queue (the `oid`), and the suite's stores (which carry no
 * request) are addressed to it, as a worker addresses a result to the request's reply_to.
 * Not run: groups (Celery's rpc backend has no save_group either) and expiry (a result message lives until
 * its client consumes it; the reply queue itself expires after `resultExpires` unused).
 */
class SharedQueueRpc implements ResultBackend {
  readonly #inner: RpcBackend;
  constructor(inner: RpcBackend) {
    this.#inner = inner;
  }
  get transport() {
    return this.#inner.transport;
  }
  connect() {
    return this.#inner.connect();
  }
  store(meta: ResultMeta, options: StoreOptions, origin?: ResultOrigin | null) {
    return this.#inner.store(meta, options, {
      replyTo: origin?.replyTo ?? this.#inner.oid,
      correlationId: origin?.correlationId ?? null,
    });
  }
  get(id: string) {
    return this.#inner.get(id);
  }
  waitFor(id: string, o: Parameters<ResultBackend['waitFor']>[1]) {
    return this.#inner.waitFor(id, o);
  }
  forget(id: string) {
    return this.#inner.forget(id);
  }
  saveGroup(g: string, ids: readonly string[], o: StoreOptions) {
    return this.#inner.saveGroup(g, ids, o);
  }
  getGroup(g: string) {
    return this.#inner.getGroup(g);
  }
  close() {
    return this.#inner.close();
  }
}

backendConformance(
  'rpc',
  async () => {
    const oid = uniq('rpc-oid');
    return {
      create: async () =>
        new SharedQueueRpc(new RpcBackend(new URL('rpc://'), { brokerUrl: urlOf().href, oid })),
    };
  },
  { skip, expiry: false, groups: false },
);
