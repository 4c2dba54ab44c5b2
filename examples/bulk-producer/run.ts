/**
 * Publish tens of thousands of tasks from one process, fast, without unbounded memory.
 *
 *   npx tsx examples/bulk-producer/run.ts                         # 50 000 tasks to SQLite, then drain them
 *   npx tsx examples/bulk-producer/run.ts --tasks 200000 --batch 2000 --inflight 8 --broker redis://127.0.0.1:6379/5
 *
 * How: tasks go out in batches (`task.applyMany`, one broker round trip per batch where the transport
 * allows: one SQLite transaction, one Redis pipeline), and at most `--inflight` batches are waiting on the
 * broker at once. That bound is the backpressure: when the broker is slower than the producer, the
 * producer waits instead of piling up messages in memory.
 *
 * Flags: --tasks N (50000) --batch B (1000) --inflight K (4) --broker URL (SQLite in a temp dir) --backend URL
 * --single N (1000: also time N publishes awaited one by one, for comparison; 0 to skip)
 * --drain / --no-drain (default on: then consume them all with an in-process -P async worker)
 * --concurrency C (200, for the drain)
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, percentile, resolveBroker } from '../lib/cli.js';
import { createBulkApp } from './tasks.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tasks: { type: 'string', default: '50000' },
      batch: { type: 'string', default: '1000' },
      inflight: { type: 'string', default: '4' },
      broker: { type: 'string', short: 'b' },
      backend: { type: 'string' },
      single: { type: 'string', default: '1000' },
      drain: { type: 'boolean', default: true },
      'no-drain': { type: 'boolean', default: false },
      concurrency: { type: 'string', short: 'c', default: '200' },
    },
  });
  const total = Number(values.tasks);
  const batch = Number(values.batch);
  const inflight = Number(values.inflight);
  const broker = await resolveBroker(values.broker, 'bulk');
  const bulk = createBulkApp({ broker: broker.url, backend: values.backend ?? broker.url });
  const queue = `bulk.${process.pid}`;
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`broker: ${broker.url}${broker.note ? ` (${broker.note})` : ''}; queue ${queue}`);
  let peakRss = process.memoryUsage().rss;
  const sampleRss = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);

  try {
    const b = await bulk.app.broker();

    // Baseline: one publish at a time, each awaited (what a naive loop over delay() does).
    const single = Number(values.single);
    if (single > 0) {
      const t = performance.now();
      for (let n = 0; n < single; n++) await bulk.recordTask.applyAsync([0, n], { queue });
      const secs = (performance.now() - t) / 1000;
      out(`one by one: ${single} tasks in ${fmt(secs, 2)} s = ${fmt(single / secs)} tasks/s`);
    }

    // Batches with a bound on batches in flight.
    const latencies: number[] = [];
    const pending = new Set<Promise<void>>();
    const t0 = performance.now();
    for (let start = 0, k = 1; start < total; start += batch, k++) {
      const calls = Array.from({ length: Math.min(batch, total - start) }, (_, j): [number, number] => [
        k,
        start + j,
      ]);
      const sent = performance.now();
      const p: Promise<void> = bulk.recordTask.applyMany(calls, { queue }).then(() => {
        latencies.push(performance.now() - sent);
        pending.delete(p);
      });
      pending.add(p);
      // Backpressure: never more than `inflight` batches waiting on the broker.
      if (pending.size >= inflight) await Promise.race(pending);
    }
    await Promise.all(pending);
    const secs = (performance.now() - t0) / 1000;
    latencies.sort((a, c) => a - c);
    const queued = await b.size(queue);
    out(
      `batched:    ${total} tasks in ${fmt(secs, 2)} s = ${fmt(total / secs)} tasks/s ` +
        `(batch ${batch}, ${inflight} in flight; batch publish p50 ${fmt(percentile(latencies, 0.5))} ms, ` +
        `p99 ${fmt(percentile(latencies, 0.99))} ms)`,
    );
    out(`queue size: ${queued} (expected ${total + single}); peak RSS ${fmt(peakRss / 2 ** 20)} MiB`);

    if (values.drain && !values['no-drain']) {
      const worker = bulk.app.worker({
        pool: 'async',
        concurrency: Number(values.concurrency),
        queues: [queue],
      });
      const expected = total + single;
      const t1 = performance.now();
      await worker.start();
      // Poll the worker's own counter: this example has no results to wait on (ignoreResult).
      while (bulk.processed() < expected) await new Promise((r) => setTimeout(r, 20));
      const drainSecs = (performance.now() - t1) / 1000;
      await worker.stop();
      out(
        `drained:    ${expected} tasks in ${fmt(drainSecs, 2)} s = ${fmt(expected / drainSecs)} tasks/s ` +
          `(in-process -P async -c ${values.concurrency}); left in queue: ${await b.size(queue)}`,
      );
    }
  } finally {
    clearInterval(sampleRss);
    await bulk.app.close();
    broker.cleanup();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
