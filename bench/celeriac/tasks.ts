/**
 * Celeriac's side of the benchmarks: the same three tasks as the Celery anchor (bench/anchors/celery_app.py),
 * under the same names, on the same Redis.
 *
 * - `bench.noop`        returns null (the result is still stored: the drain is measured with results).
 * - `bench.sleep1`      awaits a 1 s timer (the in-flight workload).
 * - `bench.fetch_feed`  fetches and parses one feed with examples/feedhub/feed.ts (undici + fast-xml-parser).
 *
 * Broker and backend: BENCH_REDIS_URL (default redis://127.0.0.1:6379/13, the bench's own DB number).
 * Started by bench/run.ts through the CLI, as a user would:
 *   node bin/celeriac.js worker -A bench/celeriac/tasks.ts -P async -c 1000 -Q <unique queue>
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchFeed } from '../../examples/feedhub/feed.js';
import { Celeriac } from '../../src/index.js';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/13';

export const app = new Celeriac({ main: 'bench', broker: REDIS_URL, backend: REDIS_URL });

export const noop = app.task('bench.noop', () => null);

export const sleep1 = app.task('bench.sleep1', async () => {
  await sleep(1000);
  return null;
});

export const fetchFeedTask = app.task('bench.fetch_feed', (url: string) => fetchFeed(url), {
  params: ['url'],
});

export default app;
