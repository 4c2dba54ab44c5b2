// Fetch + parse of one feed for the BullMQ anchor: a plain-JS port of examples/feedhub/feed.ts (same
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

function isoDate(v) {
  const s = text(v);
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function atomLink(links) {
  if (!Array.isArray(links)) return '';
  const alt = links.find((l) => l['@_rel'] === undefined || l['@_rel'] === 'alternate');
  return text((alt ?? links[0])?.['@_href']);
}

function newestOf(items) {
  let best = null;
  for (const it of items) {
    if (best === null || (it.date !== null && (best.date === null || it.date > best.date))) best = it;
  }
  return best;
}

export function parseFeed(url, xml) {
  const tail = xml.trimEnd();
  if (!tail.endsWith('</rss>') && !tail.endsWith('</feed>')) throw new Error(`truncated feed: ${url}`);
  const doc = parser.parse(xml);
  const rss = doc.rss;
  if (rss && typeof rss === 'object' && rss.channel && typeof rss.channel === 'object') {
    const channel = rss.channel;
    const items = (channel.item ?? []).map((it) => ({
      title: text(it.title),
      link: text(it.link),
      date: isoDate(it.pubDate ?? it['dc:date']),
    }));
    return { url, title: text(channel.title), items: items.length, newest: newestOf(items) };
  }
  const feed = doc.feed;
  if (feed && typeof feed === 'object') {
    const items = (feed.entry ?? []).map((e) => ({
      title: text(e.title),
      link: atomLink(e.link),
      date: isoDate(e.updated ?? e.published),
    }));
    return { url, title: text(feed.title), items: items.length, newest: newestOf(items) };
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
