// The app of bench/pools.ts, loaded by the bench and by every pool child: one CPU-bound task, one I/O-bound task.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Celeriac } from '../src/index.js';

export const app = new Celeriac({
  broker: 'memory://bench-pools',
  backend: 'memory://bench-pools',
  resultExpires: 600,
});

const block = Buffer.alloc(1024, 7);

/** SHA-256 over 1 KiB, `iterations` times: pure CPU, never yields. Declared for the CPU pool. */
export function hash(iterations: number): string {
  let digest = block;
  for (let i = 0; i < iterations; i++) digest = createHash('sha256').update(block).update(digest).digest();
  return digest.toString('hex').slice(0, 16);
}
app.task(
  'bench.hash',
  (iterations: number) => {
    const t = performance.now();
    hash(iterations);
    return performance.now() - t; // ms of hashing, to measure how many ran at once
  },
  { pool: 'cpu' },
);

/** Waits `ms` (a stand-in for an HTTP call or a query); returns when it finished, for latency. */
app.task('bench.io', async (ms: number) => {
  await sleep(ms);
  return Date.now();
});
