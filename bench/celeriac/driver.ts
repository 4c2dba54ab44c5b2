/**
 * Client side of the Celeriac system in the benchmarks, with the same commands and JSON output as the
 * anchors' drivers (bench/anchors/celery_driver.py, bench/anchors/bullmq.mjs):
 *
 *   enqueue   --queue Q --n N --mode one|pipelined|batch [--ids-out F]   applyAsync awaited one by one | ≤100 in flight | applyMany
 *   wait      --ids F                                          every result stored (date_done read back)
 *   run       --queue Q --n N --task T [--urls F]              applyMany + wait (feeds, in-flight)
 *   roundtrip --queue Q --n N [--warmup W]                     sequential applyAsync + get
 *   purge     --queue Q                                        empties the queue (and deletes it on RabbitMQ)
 *
 * The app and tasks are the worker's own (tasks.mjs, compiled Celeriac from dist/), on the broker and
 * backend of BENCH_BROKER_URL / BENCH_BACKEND_URL. Results in Redis are awaited exactly as Celery's
 * driver does (lib/celery-results.ts); elsewhere (SQLite) through the app's own result backend.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { AnyTask } from '../../src/task/task.js';
import { purgeQueue, type WaitResult, waitForResults, waitThroughBackend } from '../lib/celery-results.js';
import { app, BACKEND_URL, BROKER_URL, fetchFeedTask, noop, sleep1 } from './tasks.mjs';

const BATCH = 1000;

const { positionals, values: a } = parseArgs({
  allowPositionals: true,
  options: {
    queue: { type: 'string', default: '' },
    n: { type: 'string', default: '0' },
    task: { type: 'string', default: 'noop' },
    mode: { type: 'string', default: 'one' },
    ids: { type: 'string' },
    // Tasks queued ahead of the waited ones (a warm-up): Celeriac waits on the ids, so it needs no count.
    after: { type: 'string', default: '0' },
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

/** Publishes in flight at once in the 'pipelined' mode. */
const WINDOW = 100;

async function enqueue(queue: string, count: number, mode: string, taskName: string, urls: string[] | null) {
  // Picked by name at run time, with arguments built at run time: the untyped view of the task.
  const task: AnyTask | undefined = tasks[taskName as keyof typeof tasks];
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
  } else if (mode === 'pipelined') {
    // One applyAsync per task, as in 'one', but up to WINDOW of them in flight: each publish still waits
    // for its own confirm (RabbitMQ), the client just does not wait for one before sending the next.
    let next = 0;
    const lane = async () => {
      while (next < count) {
        const i = next++;
        ids[i] = (await task.applyAsync(argsOf(i), { queue })).id;
      }
    };
    await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, lane));
  } else {
    for (let i = 0; i < count; i++) ids.push((await task.applyAsync(argsOf(i), { queue })).id);
  }
  return { ids, start, seconds: (performance.now() - p0) / 1000 };
}

const scheme = (url: string): string => url.slice(0, url.indexOf(':'));
const redisBackend = /^rediss?$/.test(scheme(BACKEND_URL));
let redisConn: Redis | null = null;
const redis = (): Redis => {
  redisConn ??= new Redis(BACKEND_URL);
  return redisConn;
};

async function waitAll(ids: readonly string[], timeoutS: number): Promise<WaitResult> {
  if (redisBackend) return waitForResults(redis(), ids, timeoutS);
  return waitThroughBackend(await app.backend(), ids, timeoutS);
}

/**
 * Empty the queue with the broker's own purge. Redis: delete every key of kombu's layout (the broker's
 * purge leaves the binding set behind). RabbitMQ: then delete the queue and its direct exchange, which
 * a Celery-topology queue would otherwise leave on the server for good.
 */
async function purge(queue: string): Promise<number> {
  const kind = scheme(BROKER_URL);
  if (/^rediss?$/.test(kind)) {
    const r = new Redis(BROKER_URL);
    try {
      return await purgeQueue(r, queue);
    } finally {
      r.disconnect();
    }
  }
  const removed = await (await app.broker()).purge(queue);
  if (/^amqps?$/.test(kind)) {
    // Loaded here, after the app's broker: amqplib loaded first would keep celeriac from installing its
    // field-table decoder in this process (src/drivers/amqp/driver.ts), and warn.
    const { default: amqp } = await import('amqplib');
    const conn = await amqp.connect(BROKER_URL);
    try {
      const ch = await conn.createChannel();
      await ch.deleteQueue(queue);
      await ch.deleteExchange(queue);
    } finally {
      await conn.close();
    }
  }
  return removed;
}

async function main(): Promise<void> {
  const cmd = positionals[0];
  const n = Number(a.n);
  const timeout = Number(a.timeout);
  try {
    if (cmd === 'enqueue') {
      const r = await enqueue(a.queue, n, a.mode, a.task, null);
      if (a['ids-out']) writeFileSync(a['ids-out'], JSON.stringify(r.ids));
      out({ n, seconds: r.seconds, rate: n / r.seconds });
    } else if (cmd === 'wait') {
      const ids = JSON.parse(readFileSync(a.ids ?? '', 'utf8')) as string[];
      out({ n: ids.length, ...(await waitAll(ids, timeout)) });
    } else if (cmd === 'run') {
      const urls = a.urls ? (JSON.parse(readFileSync(a.urls, 'utf8')) as string[]) : null;
      const count = urls ? urls.length : n;
      const r = await enqueue(a.queue, count, 'batch', a.task, urls);
      const w = await waitAll(r.ids, timeout);
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
      // Elsewhere the results go with the case's file.
      if (redisBackend) await redis().del(...keys);
      out({ n, latencies_ms: lat });
    } else if (cmd === 'purge') {
      out({ removed: await purge(a.queue) });
    } else {
      throw new Error(`unknown command ${cmd}`);
    }
  } finally {
    redisConn?.disconnect();
    await app.close();
  }
}

await main();
