/**
 * A local feed farm for the feed-hub example and its benchmark: N distinct feeds on 127.0.0.1, so
 * nothing touches the internet and the numbers measure Celeriac, not someone else's CDN.
 *
 * Spec sheet
 * - `GET /feed/<i>.xml`   feed i (0 ≤ i < feeds). Even i: RSS 2.0, odd i: Atom 1.0. `items` entries each
 *                         (default 20: 9.5–10.5 KB per feed), content a pure function of i.
 * - `GET /feeds.opml`     the list of all feed URLs (what a real hub imports).
 * - `GET /health`         200 "ok" without latency.
 * - anything else         404.
 * Query parameters on a feed URL (error injection):
 * - `status=<code>`       answer with that HTTP status and a short text body instead of the feed.
 * - `latency=<ms>`        override the latency for this request (slow feeds, timeouts).
 * - `malformed=1`         send a truncated document (a parser must reject it).
 *
 * Cost model: bodies are rendered on first request and cached as Buffers. Every answer waits
 * `latencyMs`; with one latency for all requests the due times arrive in order, so pending answers sit
 * in one FIFO under a single timer instead of one timer each. Per-request overrides use their own
 * setTimeout. Keep-alive is on with a long idle timeout, so a client pool of ~1000 sockets is reused.
 *
 * CLI: `npx tsx examples/feedhub/server.ts --feeds 2000 --latency 100 --port 8089` prints the base URL.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface FeedServerOptions {
  /** Number of feeds served at /feed/0.xml … /feed/<feeds-1>.xml. @defaultValue 2000 */
  feeds?: number;
  /** Milliseconds every feed answer waits before it is sent. @defaultValue 100 */
  latencyMs?: number;
  /** TCP port; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** Interface to bind. @defaultValue '127.0.0.1' */
  host?: string;
  /** Entries per feed. @defaultValue 20 */
  items?: number;
  /** Render every feed before listening instead of on first request (benchmarks: keeps rendering out of the timed window). @defaultValue false */
  prerender?: boolean;
}

export interface FeedServer {
  /** e.g. `http://127.0.0.1:39145` (no trailing slash). */
  baseUrl: string;
  feedUrl(i: number): string;
  close(): Promise<void>;
  /** Requests received so far (all paths). */
  requests(): number;
}

const DEFAULTS = {
  feeds: 2000,
  latencyMs: 100,
  port: 0,
  host: '127.0.0.1',
  items: 20,
  prerender: false,
} as const;

/** What a correct parser must report for feed i: used by the tests and the benchmark to check results. */
export interface FeedDescription {
  format: 'rss' | 'atom';
  title: string;
  items: number;
  newest: { title: string; link: string; date: string };
}

interface Entry {
  title: string;
  link: string;
  id: string;
  date: Date;
  text: string;
}

const WORDS = (
  'queue worker broker result task retry chord group chain canvas beat schedule event loop socket ' +
  'prefetch ack requeue timeout signal thread process fork kernel buffer packet latency throughput ' +
  'stream parser feed atom channel item entry summary update archive release notes garden celeriac root ' +
  'harvest winter soup market field'
).split(' ');

/** mulberry32: a tiny deterministic PRNG, so feed i always renders the same bytes. */
function prng(seed: number): () => number {
  let a = (seed * 2654435761) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function words(rand: () => number, n: number): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) out.push(WORDS[Math.floor(rand() * WORDS.length)]!);
  return out.join(' ');
}

const EPOCH = Date.UTC(2024, 0, 1);

function feedTitle(i: number): string {
  // Every third title carries an ampersand, so the XML escaping path is exercised.
  return i % 3 === 0 ? `Feed ${i}: Notes & Letters` : `Feed ${i}: ${['Daily', 'Weekly', 'Field'][i % 3]} Log`;
}

/** The entries of feed i, in document order (deliberately not sorted: newest is found by date). */
function entries(i: number, count: number): Entry[] {
  const rand = prng(i + 1);
  const out: Entry[] = [];
  for (let j = 0; j < count; j++) {
    out.push({
      title: `Post ${j} of feed ${i}: ${words(rand, 4)}`,
      link: `https://blog${i}.example.org/posts/${j}`,
      id: `urn:celeriac:feed:${i}:post:${j}`,
      // Distinct minutes per entry, spread over days, so the newest is unique.
      date: new Date(EPOCH + i * 60_000 + j * 86_400_000 + Math.floor(rand() * 43_200) * 1000),
      text: `${words(rand, 16)}.`,
    });
  }
  // Deterministic shuffle (Fisher-Yates) of document order.
  for (let j = out.length - 1; j > 0; j--) {
    const k = Math.floor(rand() * (j + 1));
    [out[j], out[k]] = [out[k]!, out[j]!];
  }
  return out;
}

function newestOf(list: Entry[]): Entry {
  return list.reduce((a, b) => (b.date > a.date ? b : a));
}

export function describeFeed(i: number, items: number = DEFAULTS.items): FeedDescription {
  const list = entries(i, items);
  const n = newestOf(list);
  return {
    format: i % 2 === 0 ? 'rss' : 'atom',
    title: feedTitle(i),
    items,
    newest: { title: n.title, link: n.link, date: n.date.toISOString() },
  };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function renderRss(i: number, list: Entry[]): string {
  const newest = newestOf(list).date.toUTCString();
  const body = list
    .map(
      (e, j) => `    <item>
      <title>${esc(e.title)}</title>
      <link>${e.link}</link>
      <guid isPermaLink="false">${e.id}</guid>
      <pubDate>${e.date.toUTCString()}</pubDate>
      <description>${j % 2 === 0 ? `<![CDATA[<p>${e.text}</p><p>Read <a href="${e.link}">more</a>.</p>]]>` : esc(`<p>${e.text}</p>`)}</description>
    </item>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>${esc(feedTitle(i))}</title>
    <link>https://blog${i}.example.org/</link>
    <description>Local test feed number ${i}</description>
    <language>en</language>
    <lastBuildDate>${newest}</lastBuildDate>
    <atom:link href="https://blog${i}.example.org/feed.xml" rel="self" type="application/rss+xml"/>
${body}
  </channel>
</rss>
`;
}

function renderAtom(i: number, list: Entry[]): string {
  const updated = newestOf(list).date.toISOString();
  const body = list
    .map(
      (e) => `  <entry>
    <title type="text">${esc(e.title)}</title>
    <link rel="alternate" type="text/html" href="${e.link}"/>
    <id>${e.id}</id>
    <published>${e.date.toISOString()}</published>
    <updated>${e.date.toISOString()}</updated>
    <summary type="html">${esc(`<p>${e.text}</p>`)}</summary>
  </entry>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="text">${esc(feedTitle(i))}</title>
  <subtitle>Local test feed number ${i}</subtitle>
  <link rel="self" href="https://blog${i}.example.org/atom.xml"/>
  <link rel="alternate" href="https://blog${i}.example.org/"/>
  <id>urn:celeriac:feed:${i}</id>
  <updated>${updated}</updated>
${body}
</feed>
`;
}

/** Render feed i (exported for tests and parser benchmarks that want the bytes without a socket). */
export function renderFeed(i: number, items: number = DEFAULTS.items): string {
  const list = entries(i, items);
  return i % 2 === 0 ? renderRss(i, list) : renderAtom(i, list);
}

/** Pending answers ordered by due time; one timer for the whole line (valid because latency is uniform). */
class DelayLine {
  #due: number[] = [];
  #fns: (() => void)[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | null = null;

  push(due: number, fn: () => void): void {
    this.#due.push(due);
    this.#fns.push(fn);
    if (this.#timer === null) this.#arm();
  }

  #arm(): void {
    const due = this.#due[this.#head];
    if (due === undefined) return;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, due - Date.now()));
  }

  #fire(): void {
    this.#timer = null;
    const now = Date.now();
    while (this.#head < this.#due.length && this.#due[this.#head]! <= now) {
      const fn = this.#fns[this.#head]!;
      this.#head++;
      fn();
    }
    // Compact once the consumed prefix dominates, so memory stays bounded under a steady load.
    if (this.#head > 1024 && this.#head * 2 > this.#due.length) {
      this.#due = this.#due.slice(this.#head);
      this.#fns = this.#fns.slice(this.#head);
      this.#head = 0;
    }
    this.#arm();
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#due = [];
    this.#fns = [];
    this.#head = 0;
  }
}

const FEED_PATH = /^\/feed\/(\d+)\.xml$/;

export async function startFeedServer(opts: FeedServerOptions = {}): Promise<FeedServer> {
  const feeds = opts.feeds ?? DEFAULTS.feeds;
  const latencyMs = opts.latencyMs ?? DEFAULTS.latencyMs;
  const items = opts.items ?? DEFAULTS.items;
  const host = opts.host ?? DEFAULTS.host;
  const cache: (Buffer | undefined)[] = new Array(feeds);
  if (opts.prerender) for (let i = 0; i < feeds; i++) cache[i] = Buffer.from(renderFeed(i, items));
  const line = new DelayLine();
  const timers = new Set<NodeJS.Timeout>();
  let count = 0;
  let baseUrl = '';

  const later = (ms: number, fn: () => void): void => {
    if (ms === latencyMs) {
      if (ms <= 0) fn();
      else line.push(Date.now() + ms, fn);
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const send = (res: ServerResponse, status: number, type: string, body: Buffer | string): void => {
    if (res.destroyed) return; // the client gave up (timeout); nothing to answer
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { 'content-type': type, 'content-length': buf.length });
    res.end(buf);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    count++;
    const q = (req.url ?? '/').indexOf('?');
    const path = q === -1 ? (req.url ?? '/') : req.url!.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : req.url!.slice(q + 1));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', 'method not allowed\n');
      return;
    }
    if (path === '/health') {
      send(res, 200, 'text/plain', 'ok\n');
      return;
    }
    if (path === '/feeds.opml') {
      const outlines: string[] = [];
      for (let i = 0; i < feeds; i++) {
        outlines.push(
          `    <outline type="rss" text="${esc(feedTitle(i))}" xmlUrl="${baseUrl}/feed/${i}.xml"/>`,
        );
      }
      const opml = `<?xml version="1.0"?>\n<opml version="2.0">\n  <body>\n${outlines.join('\n')}\n  </body>\n</opml>\n`;
      send(res, 200, 'text/x-opml', opml);
      return;
    }
    const m = FEED_PATH.exec(path);
    const i = m ? Number(m[1]) : -1;
    if (!m || i >= feeds) {
      send(res, 404, 'text/plain', 'not found\n');
      return;
    }
    const latency = query.has('latency') ? Number(query.get('latency')) : latencyMs;
    const status = query.has('status') ? Number(query.get('status')) : 200;
    later(Number.isFinite(latency) && latency >= 0 ? latency : latencyMs, () => {
      if (status !== 200) {
        send(res, status, 'text/plain', `injected status ${status}\n`);
        return;
      }
      let body = cache[i];
      if (!body) {
        body = Buffer.from(renderFeed(i, items));
        cache[i] = body;
      }
      if (query.get('malformed') === '1') body = body.subarray(0, Math.floor(body.length / 2));
      send(
        res,
        200,
        i % 2 === 0 ? 'application/rss+xml; charset=utf-8' : 'application/atom+xml; charset=utf-8',
        body,
      );
    });
  };

  const server = createServer(handle);
  // Clients keep ~1000 sockets open between batches; the Node default (5 s) would churn them.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  // A burst of 1000 simultaneous connects overflows the default backlog (511) and costs SYN retries.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port ?? DEFAULTS.port, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    baseUrl,
    feedUrl: (i) => `${baseUrl}/feed/${i}.xml`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        line.clear();
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      feeds: { type: 'string', default: String(DEFAULTS.feeds) },
      latency: { type: 'string', default: String(DEFAULTS.latencyMs) },
      port: { type: 'string', default: '8089' },
      host: { type: 'string', default: DEFAULTS.host },
      items: { type: 'string', default: String(DEFAULTS.items) },
      prerender: { type: 'boolean', default: DEFAULTS.prerender },
    },
  });
  const server = await startFeedServer({
    feeds: Number(values.feeds),
    latencyMs: Number(values.latency),
    port: Number(values.port),
    host: values.host,
    items: Number(values.items),
    prerender: values.prerender,
  });
  process.stdout.write(`${server.baseUrl}\n`);
  process.stderr.write(
    `serving ${values.feeds} feeds (${server.feedUrl(0)} … ${server.feedUrl(Number(values.feeds) - 1)}), ` +
      `latency ${values.latency} ms; Ctrl-C to stop\n`,
  );
  const stop = (): void => {
    process.stderr.write(`\n${server.requests()} requests served\n`);
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
