/**
 * Celeriac's side of the benchmarks: the same three tasks as the Celery anchor (bench/anchors/celery_app.py),
 * under the same names. The one definition of them: the worker loads this module and the driver
 * (bench/celeriac/driver.ts) imports it.
 *
 * - `bench.noop`        returns null (the result is still stored: the drain is measured with results).
 * - `bench.sleep1`      awaits a 1 s timer (the in-flight workload).
 * - `bench.fetch_feed`  fetches and parses one feed with bench/anchors/feed.mjs, the very code BullMQ's
 *                       worker runs (undici + fast-xml-parser, a plain-JS port of examples/feedhub/feed.ts).
 *
 * Plain JavaScript importing `celeriac`, the package itself (its own package.json "exports", i.e. dist/),
 * so the worker runs compiled code with no TypeScript loader in the process, as in production. Build
 * first (`npm run build`; bench/run.ts always does). Started by bench/run.ts through the CLI:
 *   CELERIAC_CLI=dist node bin/celeriac.js worker -A bench/celeriac/tasks.mjs -P async -c 1000 -Q <queue>
 *
 * Broker and backend: BENCH_BROKER_URL and BENCH_BACKEND_URL, each defaulting to BENCH_REDIS_URL
 * (redis://127.0.0.1:6379/13, the bench's own DB number). The harness sets them per case: a sqlite://
 * file for both, or amqp:// with results in Redis.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Celeriac } from 'celeriac';
import { fetchFeed } from '../anchors/feed.mjs';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/13';
export const BROKER_URL = process.env.BENCH_BROKER_URL || REDIS_URL;
export const BACKEND_URL = process.env.BENCH_BACKEND_URL || REDIS_URL;

// The observability row (`celeriac worker --tracing --metrics-port 0`): a real OpenTelemetry SDK, spans
// batched as in production, handed to an exporter that drops them, so the row measures what tracing
// costs the worker and not an exporter's network. Registered here, before the CLI adds the middleware.
if (process.argv.includes('--tracing')) {
  const api = await import('@opentelemetry/api');
  const { BatchSpanProcessor, TracerProvider } = await import('@opentelemetry/sdk-trace');
  const exporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
  api.trace.setGlobalTracerProvider(
    new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] }),
  );
}

export const app = new Celeriac({ main: 'bench', broker: BROKER_URL, backend: BACKEND_URL });

export const noop = app.task('bench.noop', () => null);

export const sleep1 = app.task('bench.sleep1', async () => {
  await sleep(1000);
  return null;
});

export const fetchFeedTask = app.task('bench.fetch_feed', (url) => fetchFeed(url), { params: ['url'] });

export default app;
