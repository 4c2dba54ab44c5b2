// The chaos suite's app (test/chaos): one task that records its start and its end in the shared Redis
// (6379, hashes under $CHAOS_PREFIX), so a test counts runs across worker processes that it kills.
// Broker and backend come from the environment; acks-late from CHAOS_ACKS_LATE=1.
import { Redis } from 'ioredis';
import { Celeriac } from '../../src/index.js';

const prefix = process.env.CHAOS_PREFIX ?? 'chaos';
const tally = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false });
tally.on('error', () => {});

export const app = new Celeriac({
  taskAcksLate: process.env.CHAOS_ACKS_LATE === '1',
  taskIgnoreResult: process.env.CHAOS_RESULTS !== '1',
  brokerConnectionMaxRetries: 0,
});

export const work = app.task(
  'chaos.work',
  // `pad` only makes a message bigger (the full-disk case).
  async (i: number, ms: number, _pad = '') => {
    await tally.hincrby(`${prefix}:start`, String(i), 1);
    await new Promise((r) => setTimeout(r, ms));
    await tally.hincrby(`${prefix}:done`, String(i), 1);
    return i;
  },
  { params: ['i', 'ms', 'pad'] },
);
