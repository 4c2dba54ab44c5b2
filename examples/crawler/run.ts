/**
 * Crawl a generated local site with the crawler tasks and print what was crawled.
 *
 *   npx tsx examples/crawler/run.ts                       # 500 pages, depth 4, child worker, SQLite
 *   npx tsx examples/crawler/run.ts --pages 2000 --depth 6 --concurrency 300
 *   npx tsx examples/crawler/run.ts --worker inproc --broker memory://
 *
 * Flags: --pages N (500) --depth D (4) --latency MS (20) --slow-ms MS (10000) --timeout MS (2000)
 * --concurrency C (200) --broker URL --backend URL (default: the broker) --worker child|inproc (child) --list (print every page)
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Worker } from '../../src/index.js';
import { filteredLogger, fmt, resolveBroker, startChildWorker, stopChild } from '../lib/cli.js';
import { startSiteServer } from './site.js';
import { type CrawlReport, createCrawler, EXPECTED_PAGE_ERRORS } from './tasks.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pages: { type: 'string', default: '500' },
      depth: { type: 'string', default: '4' },
      latency: { type: 'string', default: '20' },
      'slow-ms': { type: 'string', default: '10000' },
      timeout: { type: 'string', default: '2000' },
      concurrency: { type: 'string', short: 'c', default: '200' },
      broker: { type: 'string', short: 'b' },
      backend: { type: 'string' },
      worker: { type: 'string', default: 'child' },
      list: { type: 'boolean', default: false },
    },
  });
  const site = await startSiteServer({
    pages: Number(values.pages),
    latencyMs: Number(values.latency),
    slowMs: Number(values['slow-ms']),
  });
  const broker = await resolveBroker(values.broker, 'crawler');
  const mode = broker.url.startsWith('memory:') || values.worker === 'inproc' ? 'inproc' : 'child';
  const queue = `crawler.${process.pid}`;
  const backend = values.backend ?? broker.url;
  const crawler = createCrawler({ broker: broker.url, backend });
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`site:   ${site.baseUrl} (${values.pages} pages, ${values.latency} ms per answer)`);
  out(
    `broker: ${broker.url}${broker.note ? ` (${broker.note})` : ''}; worker: ${mode === 'child' ? 'child process' : 'in this process'}, -P async -c ${values.concurrency}`,
  );

  let worker: Worker | null = null;
  let child: ChildProcess | null = null;
  let report: CrawlReport;
  const t0 = Date.now();
  try {
    if (mode === 'inproc') {
      worker = crawler.app.worker({
        pool: 'async',
        concurrency: Number(values.concurrency),
        queues: [queue],
        logger: filteredLogger('warn', EXPECTED_PAGE_ERRORS),
      });
      await worker.start();
    } else {
      child = await startChildWorker({
        app: 'examples/crawler/tasks.ts',
        pool: 'async',
        concurrency: Number(values.concurrency),
        queue,
        broker: broker.url,
        backend,
        dropLog: EXPECTED_PAGE_ERRORS,
      });
    }
    const started = Date.now();
    const r = await crawler.crawlTask.applyAsync(
      [site.url('/'), { maxDepth: Number(values.depth), timeoutMs: Number(values.timeout), queue }],
      { queue },
    );
    report = await r.get({ timeout: 600 });
    const wall = (Date.now() - started) / 1000;
    const byType = new Map<string, number>();
    for (const e of report.errors) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
    const depths = new Map<number, number>();
    for (const d of Object.values(report.depths)) depths.set(d, (depths.get(d) ?? 0) + 1);
    out(
      `crawled ${report.pages.length} pages to depth ${values.depth} in ${fmt(wall, 2)} s ` +
        `(${fmt(report.pages.length / wall, 1)} pages/s; coordinator ${report.elapsedMs} ms)`,
    );
    out(
      `per depth: ${[...depths]
        .sort((a, b) => a[0] - b[0])
        .map(([d, n]) => `${d}:${n}`)
        .join(' ')}`,
    );
    out(
      `errors: ${report.errors.length}${byType.size ? ` (${[...byType].map(([t, n]) => `${t} ${n}`).join(', ')})` : ''}`,
    );
    for (const e of report.errors.slice(0, 5)) out(`  ${e.type}: ${e.message}`);
    if (report.errors.length > 5) out(`  … ${report.errors.length - 5} more`);
    if (values.list) for (const p of report.pages) out(`  ${report.depths[p]} ${p}`);
    out(`site requests: ${site.requests()}, total time ${fmt((Date.now() - t0) / 1000, 2)} s`);
  } finally {
    if (worker) await worker.stop();
    if (child) await stopChild(child);
    await crawler.app.close();
    await site.close();
    broker.cleanup();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
