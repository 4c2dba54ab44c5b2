// The app of bench/pools.ts, loaded by the bench and by every pool child: one CPU-bound task (hashing),
// one I/O-bound task (the feed hub's fetch: HTTP to a local feed farm, then parse).
import { createHash } from 'node:crypto';
import { fetchFeed } from '../examples/feedhub/feed.js';
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

/** Fetches and parses one feed; returns when it finished, for latency. */
app.task('bench.io', async (url: string) => {
  await fetchFeed(url, { timeoutMs: 120_000 });
  return Date.now();
});
