/**
 * The broker and backend conformance suites against the machine's Redis (127.0.0.1:6379), isolated by a
 * unique global key prefix per suite run. Skipped when Redis is down locally; fails in CI.
 */
import { createRedisBackend } from '../../src/backends/redis/index.js';
import type { Broker } from '../../src/brokers/broker.js';
import { createRedisBroker, type RedisStore } from '../../src/brokers/redis/index.js';
import type { VirtualBroker } from '../../src/brokers/virtual.js';
import { deletePrefix, rawClient, skipRedis } from '../helpers/redis.js';
import { uniq } from '../helpers/services.js';
import { backendConformance } from './backend.js';
import { broadcastConformance } from './broadcast.js';
import { brokerConformance } from './broker.js';

/** Each broker's connections carry a client name of their own (`<name>-<role>`), so sever() finds them. */
const names = new WeakMap<Broker, string>();

/** CLIENT KILL every connection of `b`, as a network failure would; ioredis reconnects them. */
async function sever(b: Broker): Promise<void> {
  const name = names.get(b);
  const raw = rawClient(0);
  try {
    const ids = String(await raw.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${name}-`))
      .map((line) => line.match(/\bid=(\d+)/)?.[1])
      .filter((id): id is string => id !== undefined);
    if (!ids.length) throw new Error(`no Redis connection named ${name}-*`);
    for (const id of ids) await raw.client('KILL', 'ID', id);
  } finally {
    raw.disconnect();
  }
}

brokerConformance(
  'redis',
  async () => {
    const prefix = `${uniq('cb')}:`;
    const create = (options: Record<string, unknown> = {}) => {
      const name = uniq('conf');
      const b = createRedisBroker(new URL('redis://127.0.0.1:6379/0'), {
        globalKeyprefix: prefix,
        clientName: name,
        ...options,
      });
      names.set(b, name);
      return b;
    };
    return {
      create: async () => create(),
      cleanup: () => deletePrefix(prefix),
      sever,
      crash: {
        // A 1 s visibility timeout, scanned every 0.2 s, so a dead holder's messages return quickly. The
        // restore mutex expires after 2 s, not kombu's 300: a holder killed in the middle of its own scan
        // (likelier on a loaded machine, where a scan takes longer) would otherwise hold every restore back
        // for five minutes, as it does in kombu.
        create: async () =>
          create({ visibilityTimeout: 1, unackedRestoreInterval: 0.2, unackedMutexExpire: 2 }),
        // A killed process: its command connection is gone for good, so it renews no lease and settles
        // nothing; its held messages wait for another consumer's restore scan.
        kill: async (b) => {
          const store = (b as VirtualBroker).store as RedisStore;
          store.onError = () => {};
          store.client.disconnect();
        },
      },
    };
  },
  { skip: skipRedis },
);

backendConformance(
  'redis',
  async () => {
    const prefix = `${uniq('cr')}:`;
    return {
      create: async () =>
        createRedisBackend(new URL('redis://127.0.0.1:6379/0'), { globalKeyprefix: prefix }),
      cleanup: () => deletePrefix(prefix),
    };
  },
  { skip: skipRedis },
);

{
  const prefix = `${uniq('cbx')}:`;
  broadcastConformance(
    'redis',
    async () => {
      const name = uniq('bx');
      const b = createRedisBroker(new URL('redis://127.0.0.1:6379/0'), {
        globalKeyprefix: prefix,
        clientName: name,
      });
      names.set(b, name);
      return b;
    },
    {
      skip: skipRedis,
      sever,
      injectUndecodable: async (b, ex, rk) => {
        const store = (b as VirtualBroker).store as RedisStore;
        await store.client.publish(store.keys.fanoutChannel(ex.name, rk), 'not a kombu envelope');
      },
    },
  );
}
