/**
 * Events interop on RabbitMQ (cases in ./events.ts): a private vhost (results in Redis DB 11, the usual
 * pairing). Events go through the durable `celeryev` topic exchange to each receiver's auto-delete
 * `celeryev.<uuid>` queue. Skipped locally without RabbitMQ, Redis or Python Celery.
 */
import { afterAll } from 'vitest';
import { privateVhost, RABBIT_PORT } from '../helpers/rabbit.js';
import { skipRedis } from '../helpers/redis.js';
import { inCI, skipUnless } from '../helpers/services.js';
import { eventsInterop } from './events.js';
import { pythonCeleryAvailable } from './harness.js';

const skip = ((await skipUnless(RABBIT_PORT)) || skipRedis || !pythonCeleryAvailable) && !inCI;
const vhost = skip ? null : await privateVhost();
afterAll(async () => {
  await vhost?.drop();
});

eventsInterop(
  'amqp',
  vhost?.url ?? 'amqp://guest:guest@127.0.0.1:5672//',
  'redis://127.0.0.1:6379/11',
  skip,
  async () => {},
);
