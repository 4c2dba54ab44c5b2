/**
 * The feed hub end to end: local feed server → feeds.fetch tasks on an async worker → summaries back
 * through the result backend. Every summary is compared with what the server generated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFeed, type FeedServer, startFeedServer } from '../../examples/feedhub/server.js';
import { createFeedHub } from '../../examples/feedhub/tasks.js';
import { TaskError, type Worker } from '../../src/index.js';

const FEEDS = 200;

describe('feed hub example (memory broker, async pool)', () => {
  let server: FeedServer;
  let hub: ReturnType<typeof createFeedHub>;
  let worker: Worker;
  const name = `feedhub-it-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    server = await startFeedServer({ feeds: FEEDS, latencyMs: 20 });
    hub = createFeedHub({ broker: `memory://${name}`, backend: `memory://${name}` });
    worker = hub.app.worker({ pool: 'async', concurrency: 100, queues: ['celery'] });
    await worker.start();
  });
  afterAll(async () => {
    await worker?.stop();
    await hub?.app.close();
    await server?.close();
  });

  it(`fetches and summarises ${FEEDS} feeds, every summary correct`, async () => {
    const results = await hub.fetchFeedTask.applyMany(
      Array.from({ length: FEEDS }, (_, i) => [server.feedUrl(i)]),
    );
    const summaries = await Promise.all(results.map((r) => r.get({ timeout: 30 })));
    for (const [i, s] of summaries.entries()) {
      const want = describeFeed(i);
      expect(s.url).toBe(server.feedUrl(i));
      expect(s.title).toBe(want.title);
      expect(s.items).toBe(20);
      expect(s.newest).toEqual(want.newest);
      expect(s.bytes).toBeGreaterThan(8000);
    }
    expect(server.requests()).toBeGreaterThanOrEqual(FEEDS);
  });

  it('reports a failing feed as a FAILURE carrying the feed error type', async () => {
    const [bad, broken, good] = await hub.fetchFeedTask.applyMany([
      [`${server.feedUrl(1)}?status=503`],
      [`${server.feedUrl(2)}?malformed=1`],
      [server.feedUrl(3)],
    ]);
    const e1 = await bad!.get({ timeout: 30 }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(TaskError);
    expect((e1 as TaskError).excType).toBe('FeedHttpError');
    expect(String((e1 as TaskError).excMessage[0])).toContain('HTTP 503');
    const e2 = await broken!.get({ timeout: 30 }).catch((e: unknown) => e);
    expect((e2 as TaskError).excType).toBe('FeedParseError');
    expect((await good!.get({ timeout: 30 })).title).toBe(describeFeed(3).title);
  });
});
