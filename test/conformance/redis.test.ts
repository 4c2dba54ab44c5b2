/**
 * The broker and backend conformance suites against the machine's Redis (127.0.0.1:6379), isolated by a
 * unique global key prefix per suite run. Skipped when Redis is down locally; fails in CI.
 */
import { createRedisBackend } from '../../src/backends/redis/index.js';
import { createRedisBroker } from '../../src/brokers/redis/index.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { uniq } from '../helpers/services.js';
import { backendConformance } from './backend.js';
import { brokerConformance } from './broker.js';

brokerConformance(
  'redis',
  async () => {
    const prefix = `${uniq('cb')}:`;
    return {
      create: async () => createRedisBroker(new URL('redis://127.0.0.1:6379/0'), { globalKeyprefix: prefix }),
      cleanup: () => deletePrefix(prefix),
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
