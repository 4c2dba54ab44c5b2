/**
 * The live stream under load: ~1,000 tasks a second (a task-received and a task-succeeded each) fed
 * for 5 s into a dashboard with one SSE client, as its event receiver would; prints the updates the
 * client got per second, the bytes, and the process's CPU per second (the feeding included).
 *
 *   node --import tsx scripts/dashboard-sse-load.ts
 */
import { serveDashboard } from '../src/dashboard/server.js';
import { Celeriac } from '../src/index.js';
import { feedLoad } from './dashboard-load-feed.js';

const app = new Celeriac({ broker: 'memory://' });
const s = await serveDashboard(app, { port: 0 });
const feed = s.handler.model.store.event;
const res = await fetch(new URL('api/events', s.url));
const reader = (res.body as ReadableStream<Uint8Array>).getReader();
let frames = 0;
let bytes = 0;
const reading = (async () => {
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done || !value) return;
    bytes += value.length;
    frames += new TextDecoder().decode(value).split('event: update').length - 1;
  }
})();
await new Promise((r) => setTimeout(r, 300));
const [f0, b0, cpu0, t0] = [frames, bytes, process.cpuUsage(), Date.now()];
const load = feedLoad(feed);
await new Promise((r) => setTimeout(r, 5000));
const k = load.stop();
const secs = (Date.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${k * 2} events in ${secs.toFixed(1)} s (${Math.round((k * 2) / secs)}/s): ${frames - f0} SSE updates (${((frames - f0) / secs).toFixed(1)}/s, ${Math.round((bytes - b0) / secs / 1024)} KiB/s), CPU ${((cpu.user + cpu.system) / 1000 / secs).toFixed(0)} ms/s\n`,
);
await reader.cancel().catch(() => undefined);
await reading;
await s.close();
await app.close();
