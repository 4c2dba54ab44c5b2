/**
 * bench/anchors/feed.mjs is the feed task every bench row runs (BullMQ's worker, Celeriac's bench worker,
 * the Node no-queue ceiling); examples/feedhub/feed.ts is the one users read. The port must parse to the
 * same summary, or the bench would compare different work (RSS and Atom, dated and undated items).
 */
import { describe, expect, it } from 'vitest';
import { parseFeed as parsePort } from '../../bench/anchors/feed.mjs';
import { parseFeed } from '../../examples/feedhub/feed.js';
import { describeFeed, renderFeed } from '../../examples/feedhub/server.js';

describe('the bench feed port', () => {
  it('summarises every kind of farm feed as examples/feedhub/feed.ts does', () => {
    const kinds = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const xml = renderFeed(i);
      kinds.add(describeFeed(i).format);
      expect(parsePort(`u${i}`, xml)).toEqual(parseFeed(`u${i}`, xml));
    }
    expect(kinds.size).toBeGreaterThan(1);
  });

  it('picks the newest dated entry, and an undated one only when none has a date', () => {
    const rss = (dates: (string | null)[]) =>
      `<rss><channel><title>t</title>${dates
        .map(
          (d, i) =>
            `<item><title>i${i}</title><link>l${i}</link>${d ? `<pubDate>${d}</pubDate>` : ''}</item>`,
        )
        .join('')}</channel></rss>`;
    for (const dates of [
      ['Mon, 01 Jan 2024 00:00:00 GMT', 'Tue, 02 Jan 2024 00:00:00 GMT', null],
      [null, null],
      [null, 'Mon, 01 Jan 2024 00:00:00 GMT'],
    ]) {
      const xml = rss(dates);
      expect(parsePort('u', xml)).toEqual(parseFeed('u', xml));
    }
    expect(parsePort('u', rss([null, 'Mon, 01 Jan 2024 00:00:00 GMT'])).newest?.title).toBe('i1');
  });
});
