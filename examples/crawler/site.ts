/**
 * A generated website on 127.0.0.1 for the crawler example and its tests: a deterministic link graph,
 * so a crawl has one right answer.
 *
 * Spec sheet
 * - Pages 0 … pages-1. Page 0 is `/`, page k is `/page/<k>.html`. They form a tree (`fanout` children
 *   per page, so depth = tree level) plus one cross link per page (shortcuts and cycles: a crawler must
 *   de-duplicate and keep the SHORTEST depth at which it saw a page).
 * - Links are written in every style a crawler must resolve: root-relative (`/page/5.html`), relative
 *   (`5.html`, `./5.html`, `page/5.html` from `/`), absolute (`http://127.0.0.1:<port>/page/5.html`),
 *   with fragments (`#top`, which name the same page).
 * - Links a crawler must ignore: other sites (`https://www.example.com/…`, protocol-relative
 *   `//cdn.example.net/…`), `mailto:` and `javascript:` hrefs.
 * - Broken links: page k with k % 9 === 4 links to `/missing/<k>.html` (404).
 * - Slow pages: page k with k % 10 === 7 links to `/slow/<k>.html`, which answers after `slowMs`
 *   (for timeout handling) with a page whose only link goes back home.
 * - Non-HTML: page k with k % 11 === 5 links to `/files/report-<k>.pdf` (application/pdf): fetched, but
 *   there is nothing to parse.
 * Every answer waits `latencyMs` first (one setTimeout per request; Node keeps same-duration timers in
 * one list, so this stays cheap).
 *
 * `sitePage(path, opts)` describes any path (status + same-site links, resolved), so tests compute the
 * expected crawl by walking the graph without HTML.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SiteOptions {
  /** Number of HTML pages. @defaultValue 100 */
  pages?: number;
  /** Children per page in the tree that gives pages their depth. @defaultValue 4 */
  fanout?: number;
  /** Milliseconds before every answer. @defaultValue 20 */
  latencyMs?: number;
  /** Milliseconds before a `/slow/…` page answers. @defaultValue 3000 */
  slowMs?: number;
  /** TCP port; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
}

export interface SiteServer {
  baseUrl: string;
  /** Absolute URL of a site path. */
  url(path: string): string;
  requests(): number;
  close(): Promise<void>;
}

const DEFAULTS = { pages: 100, fanout: 4, latencyMs: 20, slowMs: 3000, port: 0, host: '127.0.0.1' } as const;

export interface PageInfo {
  status: 200 | 404;
  kind: 'html' | 'pdf' | 'missing';
  slow: boolean;
  /** Same-site links as root-relative paths without fragment, in document order (may repeat). */
  links: string[];
}

export function pagePath(k: number): string {
  return k === 0 ? '/' : `/page/${k}.html`;
}

/** The link targets of page k as the generator writes them, each paired with the href text used. */
function hrefsOf(k: number, o: Required<Pick<SiteOptions, 'pages' | 'fanout'>>, baseUrl: string): string[][] {
  const here = k === 0 ? '/' : '/page/';
  /** Same-site link to page j, in a style chosen by (k + j), relative to `here`. */
  const to = (j: number): [string, string] => {
    const target = pagePath(j);
    if (j === 0) return [target, (k + j) % 2 === 0 ? '/' : `${baseUrl}/#top`];
    const style = (k + j) % 5;
    const file = `${j}.html`;
    const href =
      style === 0
        ? target
        : style === 1
          ? here === '/'
            ? `page/${file}`
            : file
          : style === 2
            ? here === '/'
              ? `./page/${file}`
              : `./${file}`
            : style === 3
              ? `${baseUrl}${target}`
              : `${target}#section-${j % 3}`;
    return [target, href];
  };
  const out: [string, string][] = [];
  for (let c = k * o.fanout + 1; c <= k * o.fanout + o.fanout && c < o.pages; c++) out.push(to(c));
  if (k > 0) out.push(to(Math.floor((k - 1) / o.fanout))); // parent
  if (k > 0) out.push(to(0)); // home
  if (o.pages > 1) out.push(to((k * 7 + 3) % o.pages)); // cross link: cycles and shortcuts
  if (k % 9 === 4) out.push([`/missing/${k}.html`, `/missing/${k}.html`]);
  if (k % 10 === 7) out.push([`/slow/${k}.html`, `/slow/${k}.html`]);
  if (k % 11 === 5) out.push([`/files/report-${k}.pdf`, `/files/report-${k}.pdf`]);
  return out;
}

/** External and non-HTTP hrefs every page carries; a crawler must skip them all. */
function foreignHrefs(k: number): string[] {
  return [
    `https://www.example.com/ref/${k}`,
    `//cdn.example.net/lib-${k % 3}.js`,
    'mailto:webmaster@example.org',
    'javascript:void(0)',
    `http://example.net:${8000 + (k % 5)}/page/${k}.html`,
  ];
}

function parsePath(path: string, pages: number): number | null {
  if (path === '/') return 0;
  const m = /^\/page\/(\d+)\.html$/.exec(path);
  if (!m) return null;
  const k = Number(m[1]);
  return k > 0 && k < pages ? k : null;
}

/** Describe what the server answers at `path` (fragment and query already removed). */
export function sitePage(path: string, opts: SiteOptions = {}): PageInfo {
  const o = { pages: opts.pages ?? DEFAULTS.pages, fanout: opts.fanout ?? DEFAULTS.fanout };
  const k = parsePath(path, o.pages);
  if (k !== null)
    return { status: 200, kind: 'html', slow: false, links: hrefsOf(k, o, '').map(([t]) => t!) };
  if (/^\/slow\/\d+\.html$/.test(path)) return { status: 200, kind: 'html', slow: true, links: ['/'] };
  if (/^\/files\/report-\d+\.pdf$/.test(path)) return { status: 200, kind: 'pdf', slow: false, links: [] };
  return { status: 404, kind: 'missing', slow: false, links: [] };
}

function renderPage(k: number, o: Required<Pick<SiteOptions, 'pages' | 'fanout'>>, baseUrl: string): string {
  const links = hrefsOf(k, o, baseUrl).map(
    ([, href], n) => `      <li><a class="l${n}" href="${href}">link ${n}</a></li>`,
  );
  const foreign = foreignHrefs(k).map(
    (href) => `      <li><a href='${href}' rel="nofollow">elsewhere</a></li>`,
  );
  return `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Page ${k}</title><link rel="stylesheet" href="/style.css"></head>
  <body id="top">
    <h1>Page ${k}</h1>
    <p>Generated page ${k} of a test site. Its links, in several href styles:</p>
    <ul>
${[...links, ...foreign].join('\n')}
    </ul>
    <p id="section-0">Section 0</p><p id="section-1">Section 1</p><p id="section-2">Section 2</p>
  </body>
</html>
`;
}

export async function startSiteServer(opts: SiteOptions = {}): Promise<SiteServer> {
  const o = { pages: opts.pages ?? DEFAULTS.pages, fanout: opts.fanout ?? DEFAULTS.fanout };
  const latencyMs = opts.latencyMs ?? DEFAULTS.latencyMs;
  const slowMs = opts.slowMs ?? DEFAULTS.slowMs;
  const host = opts.host ?? DEFAULTS.host;
  const timers = new Set<NodeJS.Timeout>();
  let count = 0;
  let baseUrl = '';

  const server = createServer((req, res) => {
    count++;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const info = sitePage(path, o);
    const t = setTimeout(
      () => {
        timers.delete(t);
        if (res.destroyed) return;
        if (info.status === 404) {
          res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
        } else if (info.kind === 'pdf') {
          res.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF-1.4\n% not really a pdf\n');
        } else if (info.slow) {
          res
            .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
            .end('<!doctype html><title>Slow</title><a href="/">home</a>');
        } else {
          const k = parsePath(path, o.pages)!;
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(renderPage(k, o, baseUrl));
        }
      },
      info.slow ? slowMs : latencyMs,
    );
    timers.add(t);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port ?? DEFAULTS.port, host, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${host}:${port}`;
  return {
    baseUrl,
    url: (path) => baseUrl + path,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
