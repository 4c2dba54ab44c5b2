// Fetch + parse of one feed for the bench (BullMQ's worker, Celeriac's bench worker and the Node no-queue
// ceiling all run it): a plain-JS port of examples/feedhub/feed.ts (same
// undici Agent settings, same fast-xml-parser options, same summary
// {url, title, items, newest: {title, link, date} | null, bytes}), so BullMQ's worker runs the very same
// task code as Celeriac's without a TypeScript loader. Keep it in step with feed.ts.
import { XMLParser } from 'fast-xml-parser';
import { Agent, request } from 'undici';

const agent = new Agent({
  connections: 1024,
  pipelining: 1,
  keepAliveTimeout: 30_000,
  keepAliveMaxTimeout: 60_000,
  connect: { timeout: 10_000 },
});

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  trimValues: true,
  stopNodes: ['*.description', '*.summary', '*.content', '*.content:encoded'],
  isArray: (_name, jpath) =>
    jpath === 'rss.channel.item' ||
    jpath === 'feed.entry' ||
    jpath === 'feed.entry.link' ||
    jpath === 'feed.link',
});

function text(v) {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object' && '#text' in v) return text(v['#text']);
  return '';
}

function dateMs(v) {
  const s = text(v);
  return s ? Date.parse(s) : Number.NaN;
}

function atomLink(links) {
  if (!Array.isArray(links)) return '';
  const alt = links.find((l) => l['@_rel'] === undefined || l['@_rel'] === 'alternate');
  return text((alt ?? links[0])?.['@_href']);
}

// As feed.ts: dates compared as numbers and only the winner formatted (one toISOString per feed).
function newestOf(entries, dateOf, describe) {
  let best;
  let bestMs = Number.NaN;
  for (const e of entries) {
    const ms = dateMs(dateOf(e));
    if (best === undefined || ms > bestMs || (Number.isNaN(bestMs) && !Number.isNaN(ms))) {
      best = e;
      bestMs = ms;
    }
  }
  if (best === undefined) return null;
  return { ...describe(best), date: Number.isNaN(bestMs) ? null : new Date(bestMs).toISOString() };
}

export function parseFeed(url, xml) {
  const tail = xml.trimEnd();
  if (!tail.endsWith('</rss>') && !tail.endsWith('</feed>')) throw new Error(`truncated feed: ${url}`);
  const doc = parser.parse(xml);
  const rss = doc.rss;
  if (rss && typeof rss === 'object' && rss.channel && typeof rss.channel === 'object') {
    const channel = rss.channel;
    const raw = channel.item ?? [];
    const newest = newestOf(
      raw,
      (it) => it.pubDate ?? it['dc:date'],
      (it) => ({ title: text(it.title), link: text(it.link) }),
    );
    return { url, title: text(channel.title), items: raw.length, newest };
  }
  const feed = doc.feed;
  if (feed && typeof feed === 'object') {
    const raw = feed.entry ?? [];
    const newest = newestOf(
      raw,
      (e) => e.updated ?? e.published,
      (e) => ({ title: text(e.title), link: atomLink(e.link) }),
    );
    return { url, title: text(feed.title), items: raw.length, newest };
  }
  throw new Error(`neither RSS nor Atom: ${url}`);
}

export async function fetchFeed(url) {
  const res = await request(url, {
    dispatcher: agent,
    signal: AbortSignal.timeout(10_000),
    headers: { accept: 'application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1' },
  });
  if (res.statusCode >= 400) {
    await res.body.dump();
    throw new Error(`HTTP ${res.statusCode} (${url})`);
  }
  const body = await res.body.text();
  return { ...parseFeed(url, body), bytes: Buffer.byteLength(body) };
}

export async function closeFeeds() {
  await agent.close();
}
