/**
 * Client side of the Celeriac system in the benchmarks, with the same commands and JSON output as the
 * anchors' drivers (bench/anchors/celery_driver.py, bench/anchors/bullmq.mjs):
 *
 *   enqueue   --queue Q --n N --mode one|batch [--ids-out F]   applyAsync awaited one by one | applyMany
 *   wait      --ids F                                          every result stored (date_done read back)
 *   run       --queue Q --n N --task T [--urls F]              applyMany + wait (feeds, in-flight)
 *   roundtrip --queue Q --n N [--warmup W]                     sequential applyAsync + get
 *   purge     --queue Q
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { purgeQueue, waitForResults } from '../lib/celery-results.js';
import { app, fetchFeedTask, noop, REDIS_URL, sleep1 } from './tasks.js';

const BATCH = 1000;

const { positionals, values: a } = parseArgs({
  allowPositionals: true,
  options: {
    queue: { type: 'string', default: '' },
    n: { type: 'string', default: '0' },
    task: { type: 'string', default: 'noop' },
    mode: { type: 'string', default: 'one' },
    ids: { type: 'string' },
    'ids-out': { type: 'string' },
    urls: { type: 'string' },
    warmup: { type: 'string', default: '20' },
    timeout: { type: 'string', default: '600' },
  },
});
const out = (obj: unknown): void => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};
const tasks = { noop, sleep1, fetch_feed: fetchFeedTask } as const;

async function enqueue(queue: string, count: number, mode: string, taskName: string, urls: string[] | null) {
  const task = tasks[taskName as keyof typeof tasks];
  if (!task) throw new Error(`unknown task ${taskName}`);
  const argsOf = (i: number): unknown[] => (urls ? [urls[i]] : []);
  const ids: string[] = [];
  const start = Date.now() / 1000;
  const p0 = performance.now();
  if (mode === 'batch') {
    for (let i = 0; i < count; i += BATCH) {
      const calls: unknown[][] = [];
      for (let j = i; j < Math.min(count, i + BATCH); j++) calls.push(argsOf(j));
      for (const r of await task.applyMany(calls, { queue })) ids.push(r.id);
    }
  } else {
    for (let i = 0; i < count; i++) ids.push((await task.applyAsync(argsOf(i), { queue })).id);
  }
  return { ids, start, seconds: (performance.now() - p0) / 1000 };
}

async function main(): Promise<void> {
  const cmd = positionals[0];
  const n = Number(a.n);
  const timeout = Number(a.timeout);
  const redis = new Redis(REDIS_URL);
  try {
    if (cmd === 'enqueue') {
      const r = await enqueue(a.queue, n, a.mode, a.task, null);
      if (a['ids-out']) writeFileSync(a['ids-out'], JSON.stringify(r.ids));
      out({ n, seconds: r.seconds, rate: n / r.seconds });
    } else if (cmd === 'wait') {
      const ids = JSON.parse(readFileSync(a.ids ?? '', 'utf8')) as string[];
      out({ n: ids.length, ...(await waitForResults(redis, ids, timeout)) });
    } else if (cmd === 'run') {
      const urls = a.urls ? (JSON.parse(readFileSync(a.urls, 'utf8')) as string[]) : null;
      const count = urls ? urls.length : n;
      const r = await enqueue(a.queue, count, 'batch', a.task, urls);
      const w = await waitForResults(redis, r.ids, timeout);
      out({ n: count, start: r.start, enqueue_seconds: r.seconds, wall: w.end - r.start, ...w });
    } else if (cmd === 'roundtrip') {
      const lat: number[] = [];
      const keys: string[] = [];
      const warm = Number(a.warmup);
      for (let i = 0; i < warm + n; i++) {
        const p0 = performance.now();
        const r = await noop.applyAsync([], { queue: a.queue });
        await r.get({ timeout: 30 });
        if (i >= warm) lat.push(performance.now() - p0);
        keys.push(`celery-task-meta-${r.id}`);
      }
      await redis.del(...keys);
      out({ n, latencies_ms: lat });
    } else if (cmd === 'purge') {
      out({ removed: await purgeQueue(redis, a.queue) });
    } else {
      throw new Error(`unknown command ${cmd}`);
    }
  } finally {
    redis.disconnect();
    await app.close();
  }
}

await main();
