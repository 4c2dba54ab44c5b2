/**
 * The dashboard end to end in a real Chromium (Debian's, via playwright-core), against the real
 * `celeriac dashboard` server, a real Celeriac worker and a real Python Celery 5.2 worker, all on Redis
 * DB 12 with queues of their own. It takes the screenshots of docs/dashboard.md (docs/images/) and
 * prints the page weight of a first load. Skipped locally without Redis, Python Celery or chromium;
 * failed in CI.
 *
 * No timed assertions: every wait is for something the page shows, with a generous ceiling.
 */
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskDetailView } from '../../src/dashboard/api-types.js';
import { Celeriac, chord } from '../../src/index.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { inCI, uniq } from '../helpers/services.js';
import { pythonCeleryAvailable, ROOT } from '../interop/harness.js';
import { measureTransfer, type OpenBrowser, openBrowser, skipChromium } from './browser.js';
import {
  type Dashboard,
  dashboardRefuses,
  type Proc,
  startCeleriacWorker,
  startDashboard,
  startPythonWorker,
  until,
} from './harness.js';

const DB = 12;
const URL_ = `redis://127.0.0.1:6379/${DB}`;
const IMAGES = join(ROOT, 'docs', 'images');
const LONG = 90_000;
const XSS = '<img src=x onerror=alert(1)>';

const skip = (skipRedis || !pythonCeleryAvailable || skipChromium) && !inCI;

describe.skipIf(skip)('dashboard in Chromium (Redis, Celeriac + Python Celery workers)', () => {
  const queue = uniq('web');
  const pyQueue = uniq('webpy');
  const tsHost = `${uniq('ts')}@browser`;
  const pyName = uniq('py');
  const env = {
    CELERIAC_BROKER_URL: URL_,
    CELERIAC_RESULT_BACKEND: URL_,
    INTEROP_BROKER: URL_,
    INTEROP_BACKEND: URL_,
  };
  let app: Celeriac;
  let dash: Dashboard;
  let ts: Proc;
  let py: Proc;
  let b: OpenBrowser;
  const send = (name: string, args: unknown[], options: Record<string, unknown> = {}) =>
    app.sendTask(name, args, {}, { queue, ...options });

  beforeAll(async () => {
    mkdirSync(IMAGES, { recursive: true });
    app = new Celeriac({ broker: URL_, backend: URL_ });
    // The dashboard first, so it sees the workers come online.
    dash = await startDashboard(env);
    [ts, py] = await Promise.all([
      startCeleriacWorker(env, queue, tsHost),
      startPythonWorker(env, pyQueue, pyName),
    ]);
    b = await openBrowser();
  }, 120_000);

  afterAll(async () => {
    await b?.close();
    await Promise.all([ts?.stop(), py?.stop()]);
    await dash?.stop();
    await app?.close();
    for (const q of [queue, pyQueue]) await deletePrefix(q, DB);
    await deletePrefix('celery-task-meta-', DB);
  }, 60_000);

  it(
    'lists a Celeriac worker and a Python Celery worker on the overview',
    async () => {
      const { page } = b;
      await page.goto(dash.url);
      const tsRow = page.locator(`#workers tr[data-hostname="${tsHost}"]`);
      const pyRow = page.locator(`#workers tr[data-hostname^="${pyName}@"]`);
      await tsRow.waitFor({ timeout: LONG });
      await pyRow.waitFor({ timeout: LONG });
      expect(await tsRow.locator('td.lang').textContent()).toBe('TypeScript');
      expect(await pyRow.locator('td.lang').textContent()).toBe('Python');
      expect(await tsRow.locator('td').nth(1).textContent()).toBe('online');
      expect(await pyRow.locator('td').nth(1).textContent()).toBe('online');
    },
    LONG * 2,
  );

  it(
    'counts succeeded tasks and draws them live, without a reload',
    async () => {
      const { page } = b;
      const count = async () =>
        Number(((await page.locator('#total-succeeded').textContent()) ?? '0').replace(/\D/g, ''));
      const drawn = async () => Number(await page.locator('#chart-throughput').getAttribute('data-sum'));
      const before = await count();
      const drawnBefore = await drawn();
      // Batches, each seen on the page before the next is sent: the page must move with every one
      // (live, no reload), and the chart gets a few seconds of shape for the screenshot.
      let sent = 0;
      for (const size of [10, 25, 15, 40]) {
        const batch = await Promise.all(Array.from({ length: size }, (_, i) => send('web.add', [i, 1])));
        await Promise.all(batch.map((r) => r.get({ timeout: 60 })));
        sent += size;
        // Polled from here (page.waitForFunction would eval a string, which the page's CSP forbids).
        await until(
          async () => (await count()) >= before + sent && (await drawn()) >= drawnBefore + sent,
          `the count and chart to rise by ${sent}`,
        );
      }
      // A few tasks on the Python worker too.
      await Promise.all(
        [1, 2, 3].map((i) =>
          app.sendTask('interop.add', [i, i], {}, { queue: pyQueue }).then((r) => r.get({ timeout: 60 })),
        ),
      );
      // The chart draws complete seconds, so it may follow the count by one.
      await until(
        async () => (await count()) >= before + sent + 3 && (await drawn()) >= drawnBefore + sent + 3,
        'the Python tasks to count',
      );
      expect(await count()).toBeGreaterThanOrEqual(before + sent + 3);
      expect(await drawn()).toBeGreaterThanOrEqual(drawnBefore + sent + 3);
      await page.screenshot({ path: join(IMAGES, 'dashboard-overview.png'), fullPage: true });
    },
    LONG * 2,
  );

  it(
    "shows a failed task's traceback on its page",
    async () => {
      const { page } = b;
      const r = await send('web.fail', ['the disk is full']);
      await expect(r.get({ timeout: 60 })).rejects.toThrow(/the disk is full/);
      await page.goto(`${dash.url}#/task/${r.id}`);
      await page.locator('#task-state', { hasText: 'FAILURE' }).waitFor({ timeout: LONG });
      const tb = page.locator('#task-traceback');
      await tb.waitFor({ timeout: LONG });
      expect(await tb.textContent()).toMatch(/RangeError: the disk is full/);
      expect(await page.locator('#task-exception').textContent()).toMatch(/the disk is full/);
      await page.screenshot({ path: join(IMAGES, 'dashboard-task.png'), fullPage: true });
    },
    LONG * 2,
  );

  it(
    "draws a chord's workflow graph with a link to each task",
    async () => {
      const { page } = b;
      const opts = { queue };
      const c = chord(
        [1, 2, 3].map((i) => app.signature('web.add', [i, i], {}, opts)),
        app.signature('web.tsum', [], {}, opts),
      );
      const res = await c.applyAsync();
      expect(await res.get({ timeout: 60 })).toBe(12);
      // The graph is the server's (GET api/tasks/:id, dash-api's tests check its shape); the page must
      // draw every node and edge of it, each task node a link. Wait until the server knows the body
      // and its header, i.e. the chord has been drawn from events and results.
      const serverGraph = async () =>
        ((await (await fetch(`${dash.url}api/tasks/${res.id}`)).json()) as TaskDetailView).graph;
      await until(async () => {
        const g = await serverGraph();
        return (
          g.nodes.some((n) => n.name === 'web.tsum') &&
          g.nodes.filter((n) => n.name === 'web.add').length === 3
        );
      }, 'the server to know the chord');
      await page.goto(`${dash.url}#/task/${res.id}`);
      const graph = page.locator('#workflow-graph');
      await graph.waitFor({ timeout: LONG });
      const g = await serverGraph();
      await until(
        async () => Number(await graph.getAttribute('data-nodes')) === g.nodes.length,
        'the page to draw every node',
      );
      expect(Number(await graph.getAttribute('data-edges'))).toBe(g.edges.length);
      for (const n of g.nodes) {
        const drawn = graph.locator(
          n.kind === 'task' ? `a.node-link[data-id="${n.id}"]` : `g[data-id="${n.id}"]`,
        );
        expect(await drawn.count(), `node ${n.kind} ${n.name} ${n.id}`).toBe(1);
      }
      expect(await graph.locator('text.name', { hasText: 'web.tsum' }).count()).toBe(1);
      // The chord's three header tasks, each a link.
      expect(await graph.locator('a.node-link text.name', { hasText: 'web.add' }).count()).toBe(3);
      expect(await graph.locator('path.edge').count()).toBe(g.edges.filter((e) => e.from !== e.to).length);
      await page.locator('.graph-box').screenshot({ path: join(IMAGES, 'dashboard-graph.png') });
      // A node is a link to that task's page.
      const add = graph
        .locator('a.node-link', { has: page.locator('text.name', { hasText: 'web.add' }) })
        .first();
      const id = await add.getAttribute('data-id');
      await add.click();
      await page.waitForURL(`**/#/task/${id}`, { timeout: LONG });
      await page.locator('h2 .mono', { hasText: 'web.add' }).waitFor({ timeout: LONG });
    },
    LONG * 2,
  );

  it(
    'revokes a scheduled (ETA) task from its page',
    async () => {
      const { page } = b;
      const r = await send('web.add', [40, 2], { countdown: 20 });
      await page.goto(`${dash.url}#/task/${r.id}`);
      // Received by the worker, held until its ETA.
      await page.locator('#task-state', { hasText: 'RECEIVED' }).waitFor({ timeout: LONG });
      await page.locator('button[data-action="revoke"]', { hasText: 'Revoke' }).click();
      await page.locator('.dialog [data-confirm]').click();
      const reply = page.locator('.dialog .replies tr', { hasText: tsHost });
      await reply.waitFor({ timeout: LONG });
      expect(await reply.locator('td').nth(1).textContent()).toBe('yes');
      await page.locator('.dialog button', { hasText: 'Close' }).click();
      // At its ETA the worker discards it instead of running it.
      await page.locator('#task-state', { hasText: 'REVOKED' }).waitFor({ timeout: LONG });
      await r.refresh();
      expect(r.state).toBe('REVOKED');
    },
    LONG * 2,
  );

  it(
    'renders task arguments as text: an <img onerror> payload shows, and runs nothing',
    async () => {
      const { page, dialogs } = b;
      const r = await send('web.echo', [XSS]);
      expect(await r.get({ timeout: 60 })).toBe(XSS);
      await page.goto(`${dash.url}#/task/${r.id}`);
      await page.locator('#task-state', { hasText: 'SUCCESS' }).waitFor({ timeout: LONG });
      expect(await page.locator('#task-args').textContent()).toContain(XSS);
      expect(await page.locator('#task-result').textContent()).toContain(XSS);
      expect(await page.getByText(XSS).first().isVisible()).toBe(true);
      await page.goto(`${dash.url}#/tasks?name=web.echo`);
      await page.locator(`#task-list tr[data-id="${r.id}"]`).waitFor({ timeout: LONG });
      expect(await page.locator(`#task-list tr[data-id="${r.id}"]`).textContent()).toContain(XSS);
      expect(await page.locator('main img').count()).toBe(0);
      expect(dialogs).toEqual([]);
      expect(b.errors).toEqual([]);
    },
    LONG * 2,
  );

  it(
    'refuses a non-loopback address without auth; with basic auth the page needs the password',
    async () => {
      const refused = await dashboardRefuses(env, ['--address', '0.0.0.0', '--port', '0']);
      expect(refused.code).not.toBe(0);
      expect(refused.log).toMatch(/--basic-auth|--token/);

      const locked = await startDashboard(env, [
        '--address',
        '0.0.0.0',
        '--basic-auth',
        'admin:s3cret',
        '--read-only',
      ]);
      try {
        // Over plain HTTP: a 401 with a Basic challenge, for the page and for the API.
        for (const path of ['', 'api/overview']) {
          const res = await fetch(`${locked.url}${path}`);
          expect(res.status).toBe(401);
          expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
        }
        // In the browser: without the password, or with a wrong one, no page at all (headless Chromium
        // turns the unanswered challenge into ERR_INVALID_AUTH_CREDENTIALS, or shows the 401).
        for (const credentials of [undefined, { username: 'admin', password: 'nope' }]) {
          const anon = await openBrowser(credentials ? { httpCredentials: credentials } : {});
          try {
            const outcome = await anon.page.goto(locked.url).then(
              (res) => String(res?.status()),
              (e: Error) => e.message,
            );
            expect(outcome).toMatch(/^401$|ERR_INVALID_AUTH_CREDENTIALS/);
            expect(await anon.page.locator('#workers').count()).toBe(0);
          } finally {
            await anon.close();
          }
        }
        const ok = await openBrowser({ httpCredentials: { username: 'admin', password: 's3cret' } });
        try {
          expect((await ok.page.goto(locked.url))?.status()).toBe(200);
          await ok.page.locator(`#workers tr[data-hostname="${tsHost}"]`).waitFor({ timeout: LONG });
          // Read-only: no action buttons, no Actions page in the menu.
          expect(await ok.page.locator('.badge', { hasText: 'read-only' }).count()).toBe(1);
          expect(await ok.page.locator('nav a', { hasText: 'Actions' }).count()).toBe(0);
        } finally {
          await ok.close();
        }
      } finally {
        await locked.stop();
      }
    },
    LONG * 3,
  );

  it(
    'works mounted under a path of an existing node:http server (app.dashboard({ prefix }))',
    async () => {
      const handler = app.dashboard({ prefix: '/ops/dash' });
      await handler.start();
      const server = createServer((req, res) => {
        if (req.url === '/ops/dash' || req.url?.startsWith('/ops/dash/')) return handler(req, res);
        res.writeHead(404).end('not the dashboard');
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ops/dash`;
      const mounted = await openBrowser();
      try {
        // Without the trailing slash it redirects, so the page's relative URLs resolve under the prefix.
        const res = await mounted.page.goto(base);
        expect(res?.url()).toBe(`${base}/`);
        expect(res?.headers()['content-security-policy']).toMatch(/default-src 'self'/);
        await mounted.page.locator(`#workers tr[data-hostname="${tsHost}"]`).waitFor({ timeout: LONG });
        await mounted.page.locator('#live-status', { hasText: 'live' }).waitFor({ timeout: LONG });
        await mounted.page.locator('nav a', { hasText: 'Tasks' }).click();
        expect(mounted.page.url()).toBe(`${base}/#/tasks`);
        // This handler started just now and holds no task yet: one sent now appears in the open list.
        const r = await send('web.add', [5, 5]);
        await r.get({ timeout: 60 });
        await mounted.page.locator(`#task-list tr[data-id="${r.id}"]`).waitFor({ timeout: LONG });
        expect(mounted.errors).toEqual([]);
      } finally {
        await mounted.close();
        server.close();
        await handler.close();
      }
    },
    LONG * 2,
  );

  it(
    'weighs little on a first load, the bundles sent gzipped (printed for docs/dashboard.md)',
    async () => {
      const fresh = await openBrowser();
      try {
        const m = await measureTransfer(fresh.page, async () => {
          await fresh.page.goto(dash.url);
          await fresh.page.locator(`#workers tr[data-hostname="${tsHost}"]`).waitFor({ timeout: LONG });
        });
        console.log(
          `dashboard first load: ${(m.bytes / 1024).toFixed(1)} KB transferred in ${m.requests} requests`,
        );
        expect(m.requests).toBeGreaterThanOrEqual(3);
        // The bundles alone are ~100 KB plain; the gzip twins the build writes bring a load under ~50.
        expect(m.bytes).toBeGreaterThan(0);
        expect(m.bytes).toBeLessThan(70 * 1024);
      } finally {
        await fresh.close();
      }
    },
    LONG * 2,
  );
});
