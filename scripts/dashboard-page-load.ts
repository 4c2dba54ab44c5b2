/**
 * The page under load: ~1,000 tasks a second (a task-received and a task-succeeded each, ~2,000 events
 * a second) fed for 10 s into a dashboard whose overview is open in Debian's chromium; prints the
 * browser's main-thread busy time per second (CDP Performance.getMetrics TaskDuration: script, style,
 * layout and paint together), of which script, and the page's JS heap. "Fluid" means that stays a
 * small part of each second: the page coalesces the stream and renders at most 4 frames a second.
 *
 *   node --import tsx scripts/dashboard-page-load.ts
 */
import { serveDashboard } from '../src/dashboard/server.js';
import { Celeriac } from '../src/index.js';
import { openBrowser } from '../test/browser/browser.js';
import { ensureDashboardBuilt } from './build-dashboard.js';
import { feedLoad } from './dashboard-load-feed.js';

const SECONDS = 10;
await ensureDashboardBuilt();
const app = new Celeriac({ broker: 'memory://' });
const s = await serveDashboard(app, { port: 0 });
const feed = s.handler.model.store.event;
const b = await openBrowser();
await b.page.goto(s.url);
await b.page.locator('#live-status', { hasText: 'live' }).waitFor();
const cdp = await b.context.newCDPSession(b.page);
await cdp.send('Performance.enable');
const metrics = async () => {
  const { metrics: m } = (await cdp.send('Performance.getMetrics')) as {
    metrics: { name: string; value: number }[];
  };
  return Object.fromEntries(m.map((x) => [x.name, x.value]));
};
const m0 = await metrics();
const t0 = Date.now();
const load = feedLoad(feed);
await new Promise((r) => setTimeout(r, SECONDS * 1000));
const k = load.stop();
const m1 = await metrics();
const secs = (Date.now() - t0) / 1000;
const shown = await b.page.locator('#total-succeeded').textContent();
const per = (name: string) => (((m1[name] ?? 0) - (m0[name] ?? 0)) * 1000) / secs;
console.log(
  `fed ${k} tasks (${(k / secs).toFixed(0)}/s, ${((2 * k) / secs).toFixed(0)} events/s) for ${secs.toFixed(1)} s; ` +
    `the page shows ${shown} succeeded`,
);
console.log(
  `browser main thread: ${per('TaskDuration').toFixed(0)} ms busy per second ` +
    `(script ${per('ScriptDuration').toFixed(0)} ms, layout ${per('LayoutDuration').toFixed(0)} ms, ` +
    `style ${per('RecalcStyleDuration').toFixed(0)} ms); JS heap ${((m1.JSHeapUsedSize ?? 0) / 1048576).toFixed(1)} MB`,
);
await b.close();
await s.close();
await app.close();
