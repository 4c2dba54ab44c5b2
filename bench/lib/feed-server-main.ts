/**
 * The feed farm in its own process for the benchmarks (examples/feedhub/server.ts), so its CPU is not
 * the harness's: `node --import tsx bench/lib/feed-server-main.ts --feeds N --latency 100 --urls-out F`.
 * Every body is rendered once up front (fetched with `?latency=0`) so the first measured run does not pay
 * for rendering. Prints {"baseUrl"} once listening and warmed; SIGTERM closes it.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { startFeedServer } from '../../examples/feedhub/server.js';

const { values } = parseArgs({
  options: {
    feeds: { type: 'string', default: '5000' },
    latency: { type: 'string', default: '100' },
    'urls-out': { type: 'string' },
  },
});
const feeds = Number(values.feeds);
const server = await startFeedServer({ feeds, latencyMs: Number(values.latency) });
const urls = Array.from({ length: feeds }, (_, i) => server.feedUrl(i));
if (values['urls-out']) writeFileSync(values['urls-out'], JSON.stringify(urls));

const agent = new Agent({ connections: 64 });
let next = 0;
const lane = async () => {
  while (next < urls.length) {
    const res = await request(`${urls[next++]}?latency=0`, { dispatcher: agent });
    await res.body.dump();
  }
};
await Promise.all(Array.from({ length: 64 }, lane));
await agent.close();

process.stdout.write(`${JSON.stringify({ baseUrl: server.baseUrl })}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
