// BullMQ anchor for Celeriac's benchmarks: one file, a worker and a driver.
//
//   node bullmq.mjs worker    --queue Q --concurrency C --task noop|sleep1|fetch_feed
//   node bullmq.mjs enqueue   --queue Q --n N --mode one|batch [--ids-out F]   (add awaited one by one | addBulk)
//   node bullmq.mjs wait      --queue Q --n N [--after W --ids F]     (waits for N (+W) completed jobs;
//                                                                      with W, the times are F's jobs')
//   node bullmq.mjs run       --queue Q --n N --task T [--urls F]     (addBulk + wait: feeds, in-flight)
//   node bullmq.mjs roundtrip --queue Q --n N [--warmup W]            (add + waitUntilFinished, sequential)
//   node bullmq.mjs purge     --queue Q                               (obliterate)
//
// Every driver command prints one JSON object on stdout; the worker prints BENCH-READY when it is
// consuming and closes warmly on SIGTERM. Results are stored (BullMQ keeps the return value in the job
// hash, removeOnComplete is left at its default, false). Redis: BENCH_REDIS_URL (db 13 by default).
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { closeFeeds, fetchFeed } from './feed.mjs';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/13';
const BULK_CHUNK = 1000;

const { positionals, values: a } = parseArgs({
  allowPositionals: true,
  options: {
    queue: { type: 'string' },
    n: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '1' },
    task: { type: 'string', default: 'noop' },
    mode: { type: 'string', default: 'one' },
    urls: { type: 'string' },
    // BullMQ waits by count; with --after (jobs queued ahead of these, a warm-up) the times are these ids'.
    ids: { type: 'string' },
    after: { type: 'string', default: '0' },
    'ids-out': { type: 'string' },
    warmup: { type: 'string', default: '20' },
    timeout: { type: 'string', default: '600' },
  },
});
const cmd = positionals[0];
const queueName = a.queue;
if (!queueName) throw new Error('--queue is required');
const n = Number(a.n);

const connect = () => new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const processors = {
  noop: async () => null,
  sleep1: async () => {
    await sleep(1000);
    return null;
  },
  fetch_feed: async (job) => fetchFeed(job.data.url),
};

async function runWorker() {
  const processor = processors[a.task];
  if (!processor) throw new Error(`unknown task ${a.task}`);
  const connection = connect();
  const worker = new Worker(queueName, processor, { connection, concurrency: Number(a.concurrency) });
  worker.on('error', (err) => console.error('worker error', err));
  await worker.waitUntilReady();
  out('BENCH-READY');
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    await worker.close();
    await closeFeeds();
    connection.disconnect();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function enqueue(queue, count, mode, name, dataFor) {
  const t0 = Date.now();
  const p0 = performance.now();
  const ids = [];
  if (mode === 'batch') {
    for (let i = 0; i < count; i += BULK_CHUNK) {
      const jobs = [];
      for (let j = i; j < Math.min(count, i + BULK_CHUNK); j++) jobs.push({ name, data: dataFor(j) });
      for (const job of await queue.addBulk(jobs)) ids.push(job.id);
    }
  } else {
    for (let i = 0; i < count; i++) ids.push((await queue.add(name, dataFor(i))).id);
  }
  const seconds = (performance.now() - p0) / 1000;
  if (a['ids-out']) writeFileSync(a['ids-out'], JSON.stringify(ids));
  return { start: t0, seconds, ids };
}

async function waitDone(queue, client, count, after = 0, ids = null) {
  const deadline = Date.now() + Number(a.timeout) * 1000;
  for (;;) {
    const c = await queue.getJobCounts('completed', 'failed');
    if (c.completed + c.failed >= after + count) break;
    if (Date.now() > deadline) throw new Error(`timed out: ${c.completed + c.failed} of ${count} jobs`);
    await sleep(20);
  }
  const end = Date.now();
  const key = `bull:${queueName}:completed`;
  let first = await client.zrange(key, 0, 0, 'WITHSCORES');
  let last = await client.zrange(key, -1, -1, 'WITHSCORES');
  if (after > 0 && ids) {
    // Only these jobs' completion times (the warm-up's are in the same set).
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < ids.length; i += BULK_CHUNK) {
      for (const s of await client.zmscore(key, ...ids.slice(i, i + BULK_CHUNK))) {
        if (s === null) continue;
        lo = Math.min(lo, Number(s));
        hi = Math.max(hi, Number(s));
      }
    }
    first = [null, lo];
    last = [null, hi];
  }
  const failed = (await queue.getJobCounts('failed')).failed;
  const [sampleJob] = await queue.getJobs(['completed'], 0, 0);
  return {
    end: end / 1000,
    first_done: Number(first[1]) / 1000,
    last_done: Number(last[1]) / 1000,
    failed,
    sample: sampleJob?.returnvalue ?? null,
  };
}

async function main() {
  if (cmd === 'worker') return runWorker();
  const connection = connect();
  const queue = new Queue(queueName, { connection });
  try {
    if (cmd === 'enqueue') {
      const r = await enqueue(queue, n, a.mode, 'noop', () => ({}));
      out({ n, seconds: r.seconds, rate: n / r.seconds });
    } else if (cmd === 'wait') {
      const ids = a.ids ? JSON.parse(readFileSync(a.ids, 'utf8')) : null;
      out({ n, ...(await waitDone(queue, connection, n, Number(a.after), ids)) });
    } else if (cmd === 'run') {
      const urls = a.urls ? JSON.parse(readFileSync(a.urls, 'utf8')) : null;
      const count = urls ? urls.length : n;
      // Jobs completed before this run (a warm-up's, kept: removeOnComplete is false) are not this run's.
      const before = await queue.getJobCounts('completed', 'failed');
      const r = await enqueue(queue, count, 'batch', a.task, (i) => (urls ? { url: urls[i] } : {}));
      const w = await waitDone(queue, connection, count, before.completed + before.failed, r.ids);
      w.failed -= before.failed;
      out({
        n: count,
        start: r.start / 1000,
        enqueue_seconds: r.seconds,
        wall: w.end - r.start / 1000,
        ...w,
      });
    } else if (cmd === 'roundtrip') {
      const eventsConnection = connect();
      const events = new QueueEvents(queueName, { connection: eventsConnection });
      await events.waitUntilReady();
      const lat = [];
      const warm = Number(a.warmup);
      for (let i = 0; i < warm + n; i++) {
        const p0 = performance.now();
        const job = await queue.add('noop', {});
        await job.waitUntilFinished(events, 30_000);
        if (i >= warm) lat.push(performance.now() - p0);
        if (process.env.BENCH_DEBUG) console.error(i, performance.now() - p0);
      }
      await events.close();
      eventsConnection.disconnect();
      out({ n, latencies_ms: lat });
    } else if (cmd === 'purge') {
      await queue.obliterate({ force: true });
      out({ removed: true });
    } else {
      throw new Error(`unknown command ${cmd}`);
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

await main();
