/**
 * The crawler example end to end: a coordinator task fans out page tasks over a generated site. The
 * expected crawl is computed by walking the site's link graph breadth-first (sitePage), so the test
 * pins the exact set of pages, their shortest depths and the errors with their types.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SiteServer, sitePage, startSiteServer } from '../../examples/crawler/site.js';
import { createCrawler, EXPECTED_PAGE_ERRORS } from '../../examples/crawler/tasks.js';
import { filteredLogger } from '../../examples/lib/cli.js';
import type { Worker } from '../../src/index.js';

const PAGES = 120;
const SITE = { pages: PAGES, latencyMs: 5, slowMs: 60_000 };

/** Breadth-first walk of the generated graph: every path within maxDepth links of '/'. */
function expectedCrawl(maxDepth: number) {
  const depth = new Map<string, number>([['/', 0]]);
  const frontier = ['/'];
  while (frontier.length > 0) {
    const path = frontier.shift()!;
    const info = sitePage(path, SITE);
    const d = depth.get(path)!;
    if (d >= maxDepth || info.status !== 200 || info.slow) continue;
    for (const link of info.links) {
      if (!depth.has(link)) {
        depth.set(link, d + 1);
        frontier.push(link);
      }
    }
  }
  const ok = new Map<string, number>();
  const errors = new Map<string, string>();
  for (const [path, d] of depth) {
    const info = sitePage(path, SITE);
    if (info.status === 404) errors.set(path, 'PageHttpError');
    else if (info.slow) errors.set(path, 'PageTimeoutError');
    else ok.set(path, d);
  }
  return { ok, errors };
}

describe('crawler example (memory broker, async pool)', () => {
  let site: SiteServer;
  let crawler: ReturnType<typeof createCrawler>;
  let worker: Worker;
  const name = `crawler-it-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    site = await startSiteServer(SITE);
    crawler = createCrawler({ broker: `memory://${name}`, backend: `memory://${name}` });
    worker = crawler.app.worker({
      pool: 'async',
      concurrency: 60,
      logger: filteredLogger('warn', EXPECTED_PAGE_ERRORS),
    });
    await worker.start();
  });
  afterAll(async () => {
    await worker?.stop();
    await crawler?.app.close();
    await site?.close();
  });

  it('the generated site has every case the crawler must handle within depth 3', () => {
    const { ok, errors } = expectedCrawl(3);
    expect(ok.size).toBeGreaterThan(40);
    expect([...errors.values()]).toContain('PageHttpError');
    expect([...errors.values()]).toContain('PageTimeoutError');
    expect([...ok.keys()].some((p) => p.endsWith('.pdf'))).toBe(true);
    // A cross link makes some page reachable by a path shorter than its tree depth.
    const treeDepth = (k: number): number => (k === 0 ? 0 : treeDepth(Math.floor((k - 1) / 4)) + 1);
    const shortcut = [...ok].filter(
      ([p, d]) => p.startsWith('/page/') && d < treeDepth(Number(p.slice(6, -5))),
    );
    expect(shortcut.length).toBeGreaterThan(0);
  });

  for (const maxDepth of [1, 3]) {
    it(`crawls exactly the pages within ${maxDepth} links of home, at their shortest depth`, async () => {
      const { ok, errors } = expectedCrawl(maxDepth);
      const r = await crawler.crawlTask.applyAsync([
        site.url('/'),
        { maxDepth, timeoutMs: 5000, maxInFlight: 50 },
      ]);
      const report = await r.get({ timeout: 60 });
      const toPath = (u: string) => new URL(u).pathname;
      expect(report.pages.map(toPath).sort()).toEqual([...ok.keys()].sort());
      expect(Object.fromEntries(Object.entries(report.depths).map(([u, d]) => [toPath(u), d]))).toEqual(
        Object.fromEntries(ok),
      );
      expect(Object.fromEntries(report.errors.map((e) => [toPath(e.url), e.type]))).toEqual(
        Object.fromEntries(errors),
      );
      // Nothing off-site was fetched: every request the site saw is one of the expected paths.
      expect(report.pages.every((u) => u.startsWith(site.baseUrl))).toBe(true);
    });
  }
});
