/**
 * The feed hub's tasks: `feeds.fetch(url)` downloads one feed and returns its summary.
 *
 * Load it in a worker with `celeriac worker -A examples/feedhub/tasks.ts -P async -c 1000`. The module
 * exports `app`, built from the environment (CELERIAC_BROKER_URL, CELERIAC_RESULT_BACKEND); tests and
 * run.ts build their own with `createFeedHub({ broker, backend })`.
 *
 * The task is pure I/O: the whole point of the async pool is that 1000 of these wait on sockets at the
 * same time in one process, where a pool of processes would hold one socket each.
 */
import { Celeriac, type CeleriacOptions, currentTask } from '../../src/index.js';
import { type FeedSummary, fetchFeed } from './feed.js';

/** What `feeds.fetch` returns: the summary plus when the worker finished it (epoch ms, for latency stats). */
export interface FeedResult extends FeedSummary {
  doneAt: number;
}

/** Per-request deadline inside the task. @defaultValue 10000 */
export const FEED_TIMEOUT_MS = Number(process.env.FEEDHUB_TIMEOUT_MS ?? 10_000);

export function createFeedHub(options: CeleriacOptions = {}, hub: { timeoutMs?: number } = {}) {
  const timeoutMs = hub.timeoutMs ?? FEED_TIMEOUT_MS;
  const app = new Celeriac({ main: 'feedhub', ...options });
  const fetchFeedTask = app.task(
    'feeds.fetch',
    async (url: string): Promise<FeedResult> => {
      // The task's signal aborts on time limits, revoke and cold shutdown; the fetch follows it.
      const summary = await fetchFeed(url, { timeoutMs, signal: currentTask().signal });
      return { ...summary, doneAt: Date.now() };
    },
    { params: ['url'] },
  );
  return { app, fetchFeedTask };
}

const hub = createFeedHub();
export const app = hub.app;
export const fetchFeedTask = hub.fetchFeedTask;
