import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FeedFetchError,
  FeedHttpError,
  FeedParseError,
  FeedTimeoutError,
  fetchFeed,
  parseFeed,
} from '../../examples/feedhub/feed.js';
import { describeFeed, type FeedServer, renderFeed, startFeedServer } from '../../examples/feedhub/server.js';

describe('feed hub: local feed server + fetchFeed', () => {
  let server: FeedServer;
  const agent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });

  beforeAll(async () => {
    server = await startFeedServer({ feeds: 300, latencyMs: 10 });
  });
  afterAll(async () => {
    await agent.close();
    await server.close();
  });

  it('binds 127.0.0.1 on an ephemeral port', () => {
    expect(server.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.feedUrl(7)).toBe(`${server.baseUrl}/feed/7.xml`);
  });

  it('serves RSS 2.0 for even feeds and parses title, item count and newest entry', async () => {
    const s = await fetchFeed(server.feedUrl(0), { agent });
    const want = describeFeed(0);
    expect(want.format).toBe('rss');
    expect(s.title).toBe('Feed 0: Notes & Letters'); // &amp; decoded
    expect(s.items).toBe(20);
    expect(s.newest).toEqual(want.newest);
    expect(s.bytes).toBe(Buffer.byteLength(renderFeed(0)));
    expect(s.bytes).toBeGreaterThan(8_000);
  });

  it('serves Atom for odd feeds and picks the alternate link of the newest entry', async () => {
    const s = await fetchFeed(server.feedUrl(5), { agent });
    const want = describeFeed(5);
    expect(want.format).toBe('atom');
    expect(s.title).toBe(want.title);
    expect(s.items).toBe(20);
    expect(s.newest).toEqual(want.newest);
    expect(s.newest?.link).not.toContain('#');
  });

  it('finds the newest entry by date, not by position', () => {
    // The generator shuffles entries, so at least one of these feeds has its newest entry elsewhere than first.
    const parsedNewestOk = [0, 1, 2, 3, 4, 5].map((i) => {
      const s = parseFeed('x', renderFeed(i));
      return s.newest?.title === describeFeed(i).newest.title;
    });
    expect(parsedNewestOk.every(Boolean)).toBe(true);
    const firstTitles = [0, 1, 2, 3].map((i) => /<title[^>]*>(Post[^<]*)<\/title>/.exec(renderFeed(i))?.[1]);
    expect(firstTitles.some((t, i) => t !== describeFeed(i).newest.title)).toBe(true);
  });

  it('answers 404 for unknown paths and feed numbers past the end', async () => {
    await expect(fetchFeed(`${server.baseUrl}/nope`, { agent })).rejects.toBeInstanceOf(FeedHttpError);
    const err = await fetchFeed(server.feedUrl(300), { agent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeedHttpError);
    expect((err as FeedHttpError).status).toBe(404);
    expect((err as FeedHttpError).code).toBe('E_FEED_HTTP');
  });

  it('injects HTTP errors, truncated documents and slow answers', async () => {
    const e500 = await fetchFeed(`${server.feedUrl(2)}?status=500`, { agent }).catch((e: unknown) => e);
    expect(e500).toBeInstanceOf(FeedHttpError);
    expect((e500 as FeedHttpError).status).toBe(500);

    for (const i of [2, 3]) {
      const bad = await fetchFeed(`${server.feedUrl(i)}?malformed=1`, { agent }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(FeedParseError);
    }

    const slow = await fetchFeed(`${server.feedUrl(4)}?latency=2000`, { agent, timeoutMs: 50 }).catch(
      (e: unknown) => e,
    );
    expect(slow).toBeInstanceOf(FeedTimeoutError);
    expect((slow as FeedTimeoutError).message).toContain('50 ms');
  });

  it('rejects documents that are neither RSS nor Atom', () => {
    expect(() => parseFeed('u', '<html><body>hi</body></html>')).toThrow(FeedParseError);
    expect(() => parseFeed('u', '<?xml version="1.0"?><feed><title>x</title')).toThrow(FeedParseError);
    expect(() => parseFeed('u', '<opml></feed>')).toThrow(FeedParseError);
  });

  it('reports a refused connection as a network FeedFetchError', async () => {
    const closed = await startFeedServer({ feeds: 1, latencyMs: 0 });
    const url = closed.feedUrl(0);
    await closed.close();
    const err = await fetchFeed(url, { agent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeedFetchError);
    expect((err as FeedFetchError).code).toBe('E_FEED_NETWORK');
  });

  it('serves 200 parallel fetches, all correct', async () => {
    const before = server.requests();
    const ids = Array.from({ length: 200 }, (_, k) => (k * 7) % 300);
    const results = await Promise.all(
      ids.map((i) => fetchFeed(server.feedUrl(i), { agent, timeoutMs: 30_000 })),
    );
    for (const [k, s] of results.entries()) {
      const want = describeFeed(ids[k]!);
      expect(s.title).toBe(want.title);
      expect(s.items).toBe(20);
      expect(s.newest).toEqual(want.newest);
    }
    expect(server.requests() - before).toBe(200);
  });
});
