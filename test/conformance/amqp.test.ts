import type { ResultBackend, ResultOrigin, StoreOptions } from '../../src/backends/backend.js';
import { RpcBackend } from '../../src/backends/rpc/index.js';
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import type { Broker } from '../../src/brokers/broker.js';
import type { ResultMeta } from '../../src/protocol/result.js';
import { closeConnectionsNamed, RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { skipUnless, uniq } from '../helpers/services.js';
import { backendConformance } from './backend.js';
import { broadcastConformance } from './broadcast.js';
import { type BrokerHarness, brokerConformance } from './broker.js';

const skip = await skipUnless(RABBIT_PORT);
const vhostUrl = usePrivateVhost(skip);

const urlOf = () => {
  return new URL(vhostUrl());
};

/**
 * Every broker gets a connection name of its own, so a test can have RabbitMQ close its connection
 * (rabbitmqctl close_connection) as a network failure would; the broker then reconnects.
 */
function amqpHarness(options: Record<string, unknown>): () => Promise<BrokerHarness> {
  const names = new WeakMap<Broker, string>();
  const create = async () => {
    const name = uniq('conf');
    const b = new AmqpBroker(urlOf(), { ...options, connectionName: name });
    names.set(b, name);
    return b;
  };
  const sever = async (b: Broker) => {
    const name = names.get(b) as string;
    if ((await closeConnectionsNamed(name)) !== 1) throw new Error(`no RabbitMQ connection named ${name}`);
  };
  // A killed consumer looks the same to RabbitMQ as a dropped connection: the channel dies, unacked
  // messages go back at once.
  return async () => ({ create, sever, crash: { create, kill: sever } });
}

brokerConformance('amqp (classic queues, x-max-priority 10)', amqpHarness({ maxPriority: 10 }), { skip });
brokerConformance('amqp (quorum queues)', amqpHarness({ queueType: 'quorum' }), { skip });

/**
 * rpc:// results are a stream of messages to the client's own reply queue, so the suite runs with every
 * backend of a harness sharing one reply queue (the `oid`), and the suite's stores (which carry no
 * request) are addressed to it, as a worker addresses a result to the request's reply_to.
 * Skipped by its capabilities: groups (Celery's rpc backend has no save_group either) and expiry (a result
 * message lives until its client consumes it; the reply queue itself expires after `resultExpires` unused).
 */
class SharedQueueRpc implements ResultBackend {
  readonly #inner: RpcBackend;
  constructor(inner: RpcBackend) {
    this.#inner = inner;
  }
  get transport() {
    return this.#inner.transport;
  }
  get capabilities() {
    return this.#inner.capabilities;
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
  { skip },
);

{
  const names = new WeakMap<Broker, string>();
  broadcastConformance(
    'amqp',
    async () => {
      const name = uniq('bx');
      const b = new AmqpBroker(urlOf(), { connectionName: name });
      names.set(b, name);
      return b;
    },
    {
      skip,
      sever: async (b) => {
        const name = names.get(b) as string;
        if ((await closeConnectionsNamed(name)) !== 1)
          throw new Error(`no RabbitMQ connection named ${name}`);
      },
    },
  );
}
