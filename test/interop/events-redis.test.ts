/**
 * Events interop on Redis (cases in ./events.ts): Redis DB 11, a unique queue. Events are PUB/SUB on
 * `/11.celeryev/<routing key>`; nothing persists. Skipped locally without Redis or Python Celery.
 */
import { rawClient, skipRedis } from '../helpers/redis.js';
import { inCI } from '../helpers/services.js';
import { eventsInterop } from './events.js';
import { pythonCeleryAvailable } from './harness.js';

const DB = 11;

eventsInterop(
  'redis',
  `redis://127.0.0.1:6379/${DB}`,
  `redis://127.0.0.1:6379/${DB}`,
  (skipRedis || !pythonCeleryAvailable) && !inCI,
  async (queue) => {
    const raw = rawClient(DB);
    await raw.del(queue, ...[3, 6, 9].map((p) => `${queue}\x06\x16${p}`), `_kombu.binding.${queue}`);
    raw.disconnect();
  },
);
