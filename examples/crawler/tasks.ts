/**
 * A same-site web crawler as two tasks.
 *
 * - `crawler.page(url, timeoutMs)` fetches one page and returns its same-site links. Stateless, so any
 *   worker (any process, any host) can run it. The deadline is an AbortSignal: the per-request timeout
 *   combined with the task's own signal (time limits, revoke, shutdown).
 * - `crawler.crawl(startUrl, options)` is the coordinator. It fans out `crawler.page` sub-tasks and, as
 *   each result arrives, fans out the links it has not seen, down to `maxDepth`. It returns the pages
 *   crawled and the errors, grouped by kind.
 *
 * Where the seen-set lives (the choice this example makes): in the coordinator, one Map per crawl, in
 * the memory of the worker process that runs `crawler.crawl`. Page tasks never touch it, so they stay
 * stateless and can run anywhere; nothing is shared between processes, so there is no store to keep
 * consistent and no race between two workers claiming the same URL. The costs: a crawl lives and dies
 * with one coordinator (a worker crash loses that crawl's frontier), and the coordinator holds one pool
 * slot while it waits, so run it on a pool with more than one slot (`-P async`). Celery's eventlet
 * crawler passes a Bloom filter by value into every sub-task instead, which siblings never see, so they
 * re-crawl each other's pages; a shared Redis set would fix that at the price of a store round trip per
 * link.
 *
 * Depth: the crawl records the SHALLOWEST depth at which it saw each page. A page first reached through
 * a long path and later through a short one is re-expanded from its cached links, so the set of pages
 * crawled is exactly "everything within maxDepth links of the start", whatever order results arrive in.
 *
 * Errors are typed, and each is caught where it has a meaning: PageHttpError (status ≥ 400: a broken
 * link), PageTimeoutError (no answer within timeoutMs), PageFetchError (connection refused/reset). The
 * coordinator reads the failed sub-task's exception type from the result (TaskError.excType), so a
 * Python worker raising the same names would be handled the same way.
 */
import { Agent, request } from 'undici';
import { Celeriac, type CeleriacOptions, currentTask, TaskError } from '../../src/index.js';
import { deadline } from '../lib/deadline.js';
import { canonical, sameSiteLinks } from './links.js';

export class PageFetchError extends Error {
  readonly url: string;
  constructor(url: string, message: string, options?: { cause?: unknown }) {
    super(`${message} (${url})`, options);
    this.url = url;
    this.name = new.target.name;
  }
}

export class PageHttpError extends PageFetchError {
  readonly status: number;
  constructor(url: string, status: number) {
    super(url, `HTTP ${status}`);
    this.status = status;
  }
}

export class PageTimeoutError extends PageFetchError {
  constructor(url: string, timeoutMs: number) {
    super(url, `no answer within ${timeoutMs} ms`);
  }
}

/** Log records of page failures the crawl expects and reports itself (broken links, slow pages). */
export const EXPECTED_PAGE_ERRORS = /raised unexpected: Page(Http|Timeout)Error\(/;

export interface PageResult {
  url: string;
  status: number;
  /** 'html' pages are parsed for links; anything else is fetched and counted, not parsed. */
  kind: 'html' | 'other';
  links: string[];
}

export interface CrawlOptions {
  /** Links followed from the start page (0: only the start page). @defaultValue 3 */
  maxDepth?: number;
  /** Per-request deadline, milliseconds. @defaultValue 5000 */
  timeoutMs?: number;
  /** Stop fanning out after this many pages. @defaultValue 10000 */
  maxPages?: number;
  /** Page tasks in flight at once for this crawl. @defaultValue 200 */
  maxInFlight?: number;
  /** Queue for the page tasks (the coordinator's own queue is not visible to it). @defaultValue the app's default queue */
  queue?: string;
}

export interface CrawlError {
  url: string;
  /** The failed sub-task's exception type, e.g. PageHttpError. */
  type: string;
  message: string;
}

export interface CrawlReport {
  start: string;
  /** Every URL fetched successfully (HTML or not), sorted. */
  pages: string[];
  /** Depth at which each page was reached (shortest path). */
  depths: Record<string, number>;
  errors: CrawlError[];
  elapsedMs: number;
}

const CRAWL_DEFAULTS = { maxDepth: 3, timeoutMs: 5000, maxPages: 10_000, maxInFlight: 200 } as const;

/** One keep-alive agent per worker process for all page fetches. */
export const pageAgent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });

/** Fetch one page and list its same-site links. */
export async function fetchPage(url: string, timeoutMs: number, signal?: AbortSignal): Promise<PageResult> {
  const limit = deadline(timeoutMs, signal);
  try {
    const res = await request(url, {
      dispatcher: pageAgent,
      signal: limit.signal,
      headers: { accept: 'text/html,*/*;q=0.5' },
    });
    if (res.statusCode >= 400) {
      await res.body.dump(); // return the socket to the pool
      throw new PageHttpError(url, res.statusCode);
    }
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('text/html')) {
      await res.body.dump();
      return { url, status: res.statusCode, kind: 'other', links: [] };
    }
    const html = await res.body.text();
    return { url, status: res.statusCode, kind: 'html', links: sameSiteLinks(html, url) };
  } catch (err) {
    if (err instanceof PageFetchError) throw err;
    if (limit.timedOut()) throw new PageTimeoutError(url, timeoutMs);
    if (signal?.aborted) throw signal.reason ?? err; // the task itself was cancelled: not a page error
    throw new PageFetchError(url, (err as Error).message, { cause: err });
  } finally {
    limit.dispose();
  }
}

export function createCrawler(options: CeleriacOptions = {}) {
  const app = new Celeriac({ main: 'crawler', ...options });

  const pageTask = app.task(
    'crawler.page',
    (url: string, timeoutMs: number) => fetchPage(url, timeoutMs, currentTask().signal),
    { params: ['url', 'timeoutMs'] },
  );

  const crawlTask = app.task(
    'crawler.crawl',
    async (start: string, opts: CrawlOptions = {}): Promise<CrawlReport> => {
      const o = { ...CRAWL_DEFAULTS, ...opts };
      const t0 = Date.now();
      const startUrl = canonical(new URL(start));
      // The per-crawl seen-set: URL → shallowest depth; links cached once a page is fetched.
      const depth = new Map<string, number>();
      const links = new Map<string, string[]>();
      const ok = new Set<string>();
      const errors: CrawlError[] = [];
      const queue: string[] = [];
      let inFlight = 0;
      let done!: () => void;
      const finished = new Promise<void>((r) => {
        done = r;
      });

      const discover = (url: string, d: number): void => {
        const known = depth.get(url);
        if (known !== undefined && known <= d) return;
        depth.set(url, d);
        if (known !== undefined) {
          // Seen before, deeper: if its links are known, re-expand them from the shorter path.
          const cached = links.get(url);
          if (cached && d < o.maxDepth) for (const l of cached) discover(l, d + 1);
          return; // in flight or queued: its result will expand from the new, shorter depth
        }
        if (depth.size > o.maxPages) return;
        queue.push(url);
      };

      const pump = (): void => {
        while (inFlight < o.maxInFlight && queue.length > 0) {
          const url = queue.shift()!;
          inFlight++;
          void visit(url).finally(() => {
            inFlight--;
            pump();
            if (inFlight === 0 && queue.length === 0) done();
          });
        }
      };

      const visit = async (url: string): Promise<void> => {
        try {
          const r = await pageTask.applyAsync([url, o.timeoutMs], o.queue ? { queue: o.queue } : {});
          const page = (await r.get()) as PageResult;
          ok.add(url);
          links.set(url, page.links);
          const d = depth.get(url)!;
          if (d < o.maxDepth) for (const l of page.links) discover(l, d + 1);
        } catch (err) {
          // A failed sub-task rejects with TaskError carrying the remote exception type.
          if (err instanceof TaskError) {
            errors.push({ url, type: err.excType, message: String(err.excMessage[0] ?? err.message) });
          } else {
            errors.push({ url, type: (err as Error).name, message: (err as Error).message });
          }
        }
      };

      discover(startUrl, 0);
      pump();
      await finished;
      const pages = [...ok].sort();
      return {
        start: startUrl,
        pages,
        depths: Object.fromEntries(pages.map((p) => [p, depth.get(p)!])),
        errors: errors.sort((a, b) => a.url.localeCompare(b.url)),
        elapsedMs: Date.now() - t0,
      };
    },
    { params: ['start', 'opts'] },
  );

  return { app, pageTask, crawlTask };
}

const crawler = createCrawler();
export const app = crawler.app;
export const pageTask = crawler.pageTask;
export const crawlTask = crawler.crawlTask;
