/**
 * The feed hub end to end: local feed server → feeds.fetch tasks on an async worker → summaries back
 * through the result backend. Every summary is compared with what the server generated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFeedHub } from '../../examples/feedhub/run.js';
import { describeFeed, type FeedServer, startFeedServer } from '../../examples/feedhub/server.js';
import { createFeedHub } from '../../examples/feedhub/tasks.js';
import { resolveBroker } from '../../examples/lib/cli.js';
import { TaskError, type Worker } from '../../src/index.js';

const FEEDS = 200;

describe('feed hub example (memory broker, async pool)', () => {
  let server: FeedServer;
  let hub: ReturnType<typeof createFeedHub>;
  let worker: Worker;
  const name = `feedhub-it-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    server = await startFeedServer({ feeds: FEEDS, latencyMs: 20 });
    // A generous deadline: the test asserts correctness, and a loaded CI box must not turn into timeouts.
    hub = createFeedHub({ broker: `memory://${name}`, backend: `memory://${name}` }, { timeoutMs: 60_000 });
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

// The same run through the CLI: `celeriac worker -A examples/feedhub/tasks.ts -P async` in a child process,
// talking to this process through an SQLite file, as run.ts does by default.
const sqlite = await resolveBroker(undefined, 'feedhub-it');
describe.skipIf(sqlite.note !== null)('feed hub example (SQLite broker, worker started by the CLI)', () => {
  afterAll(() => sqlite.cleanup());

  it('fetches 200 feeds through a child worker, every summary verified', async () => {
    const server = await startFeedServer({ feeds: FEEDS, latencyMs: 20 });
    process.env.FEEDHUB_TIMEOUT_MS = '60000'; // read by the child worker's tasks.ts
    try {
      const r = await runFeedHub({
        feeds: FEEDS,
        pool: 'async',
        concurrency: 100,
        broker: sqlite.url,
        worker: 'child',
        batch: 50,
        feedUrl: server.feedUrl,
        waitSeconds: 60,
        quiet: true,
      });
      expect(r.firstError).toBeNull();
      expect(r.errors).toBe(0);
      expect(r.verified).toBe(FEEDS);
      expect(server.requests()).toBe(FEEDS);
    } finally {
      delete process.env.FEEDHUB_TIMEOUT_MS;
      await server.close();
    }
  }, 90_000);
});
