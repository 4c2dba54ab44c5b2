// Fetch + parse of one feed for the BullMQ anchor and the Node no-queue ceiling: a plain-JS mirror of
// examples/feedhub/feed.ts (undici keep-alive + fast-xml-parser, summary {title, items, newest}), so
// BullMQ's worker runs the very same task code as Celeriac's without a TypeScript loader.
import { XMLParser } from 'fast-xml-parser';
import { Agent, request } from 'undici';

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 1000 });
const parser = new XMLParser({ ignoreAttributes: true, isArray: (name) => name === 'item' });

export async function fetchFeed(url) {
  const res = await request(url, { dispatcher: agent });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`GET ${url}: HTTP ${res.statusCode}`);
  }
  const xml = await res.body.text();
  const doc = parser.parse(xml);
  const channel = doc?.rss?.channel;
  if (!channel) throw new Error(`not an RSS feed: ${url}`);
  const items = channel.item ?? [];
  let newest = null;
  for (const item of items) {
    const t = item.pubDate ? Date.parse(item.pubDate) : Number.NaN;
    if (!Number.isNaN(t) && (newest === null || t > newest)) newest = t;
  }
  return {
    title: String(channel.title ?? ''),
    items: items.length,
    newest: newest === null ? null : new Date(newest).toISOString(),
  };
}

export async function closeFeeds() {
  await agent.close();
}
