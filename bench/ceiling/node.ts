/**
 * The no-queue ceiling in Node: fetch + parse the same feeds with the same concurrency and no queue at all,
 * using the very task code the bench's Celeriac and BullMQ workers run (bench/anchors/feed.mjs). What a
 * queue adds on top of this is its overhead: issue 19's "queue CPU per feed" is a worker's CPU per feed
 * minus this one's, which means something only while the three run the same function. (Until 2026-12-01
 * this ran examples/feedhub/feed.ts, whose parser had since moved ahead of the port: the difference
 * then held code, not queue.)
 *
 *   node --import tsx bench/ceiling/node.ts --urls F --concurrency 1000 [--warmup 50]
 *
 * Prints {n, wall, cpu_s, failed}: wall seconds and this process's CPU seconds (user + system) for the
 * measured run only (after a warm-up that opens the first sockets and JIT-compiles the parser).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { closeFeeds, fetchFeed } from '../anchors/feed.mjs';

const { values } = parseArgs({
  options: {
    urls: { type: 'string' },
    concurrency: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '50' },
  },
});

async function runAll(urls: readonly string[], concurrency: number): Promise<number> {
  let next = 0;
  let failed = 0;
  const lane = async () => {
    while (next < urls.length) {
      const url = urls[next++]!;
      try {
        await fetchFeed(url);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, urls.length) }, lane));
  return failed;
}

const urls = JSON.parse(readFileSync(values.urls ?? '', 'utf8')) as string[];
const concurrency = Number(values.concurrency);
await runAll(urls.slice(0, Number(values.warmup)), concurrency);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const failed = await runAll(urls, concurrency);
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${JSON.stringify({ n: urls.length, wall, cpu_s: (cpu.user + cpu.system) / 1e6, failed })}\n`,
);
await closeFeeds();
