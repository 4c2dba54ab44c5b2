/**
 * The dashboard's API over real HTTP, against a real worker on SQLite and on Redis: workers listed with
 * their language, tasks and the series rise, a failed task's traceback, a chord's graph, revoke of an
 * ETA task (reported by the worker, and the task never runs), retry re-sends, and the CSRF / method /
 * origin refusals of actions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ActionResultView,
  DeadLetterView,
  OverviewView,
  SeriesView,
  SessionView,
  TaskDetailView,
  TaskListView,
} from '../../src/dashboard/api-types.js';
import { type DashboardServer, serveDashboard } from '../../src/dashboard/server.js';
import { Celeriac, chord } from '../../src/index.js';
import { DEAD_HEADERS } from '../../src/middleware/dead-letter.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { uniq, waitUntil } from '../helpers/services.js';
import { client, defineTasks } from './dashboard-helpers.js';

const REDIS_DB = 4;

interface Setup {
  url: string;
  extended: boolean;
  cleanup(): Promise<void>;
}

const setups: Record<string, () => Setup> = {
  sqlite: () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-dash-'));
    return {
      url: `sqlite://${join(dir, 'b.db')}`,
      extended: false,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  redis: () => {
    const prefix = `${uniq('dash')}:`;
    return {
      url: `redis://127.0.0.1:6379/${REDIS_DB}?global_keyprefix=${encodeURIComponent(prefix)}`,
      extended: true,
      cleanup: () => deletePrefix(prefix, REDIS_DB),
    };
  },
};

for (const kind of Object.keys(setups)) {
  describe.skipIf(kind === 'redis' && skipRedis)(`dashboard API on ${kind}://`, () => {
    let setup: Setup;
    let app: Celeriac;
    let dashApp: Celeriac;
    let worker: Worker;
    let server: DashboardServer;
    let tasks: ReturnType<typeof defineTasks>;
    let http: ReturnType<typeof client>;
    let csrf: string;

    beforeAll(async () => {
      setup = (setups[kind] as () => Setup)();
      const conf = {
        broker: setup.url,
        backend: setup.url,
        // Unique exchanges and queue: other suites' workers on the same server neither answer nor show.
        controlExchange: uniq('ctl'),
        eventExchange: uniq('ev'),
        taskDefaultQueue: uniq('q'),
        resultExtended: setup.extended,
      };
      app = new Celeriac(conf);
      dashApp = new Celeriac(conf);
      tasks = defineTasks(app);
      worker = app.worker({
        taskEvents: true,
        heartbeatInterval: 0.5,
        concurrency: 4,
        blockingThreshold: 100,
        logger: createLogger('error', () => {}),
      });
      await worker.start();
      server = await serveDashboard(dashApp, { port: 0, pollSeconds: 1 });
      http = client(server.url);
      csrf = ((await http.get('api/session')).body as SessionView).csrf;
    }, 30_000);

    afterAll(async () => {
      await server?.close();
      await worker?.stop();
      await Promise.all([app?.close(), dashApp?.close()]);
      await setup?.cleanup();
    });

    it('answers /api/session with a CSRF token, JSON and nosniff', async () => {
      const r = await http.get('api/session');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
      expect(r.body).toMatchObject({ readOnly: false, auth: 'none' });
      expect(csrf.length).toBeGreaterThan(20);
    });

    it('lists the worker, online, as TypeScript, with its pool from inspect stats', async () => {
      const o = await http.until<OverviewView>(
        'api/overview',
        (b) => b.workers.some((w) => w.hostname === worker.hostname && w.online && w.concurrency !== null),
        'the worker in the overview',
      );
      const w = o.workers.find((x) => x.hostname === worker.hostname);
      expect(w).toMatchObject({ language: 'typescript', swIdent: 'celeriac', online: true, concurrency: 4 });
    });

    it('shows event-loop stalls per task name, from the worker’s blocking monitor', async () => {
      await (await tasks.block.delay()).get({ timeout: 15 });
      const o = await http.until<OverviewView>(
        'api/overview',
        (b) => b.stalls.some((s) => s.task === 'dash.block'),
        'the stall in the overview',
      );
      const stall = o.stalls.find((s) => s.task === 'dash.block');
      expect(stall).toMatchObject({ worker: worker.hostname, count: 1 });
      expect(stall?.maxMs).toBeGreaterThanOrEqual(100);
      expect(stall?.lastAt).toBeGreaterThan(0);
    });

    it('counts tasks as they succeed, in the list and in the series', async () => {
      const rs = await Promise.all([1, 2, 3].map((n) => tasks.add.delay(n, n)));
      for (const r of rs) await r.get({ timeout: 15 });
      const list = await http.until<TaskListView>(
        `api/tasks?state=SUCCESS&name=dash.add&limit=100`,
        (b) => rs.every((r) => b.tasks.some((t) => t.id === r.id)),
        'the three tasks SUCCESS',
      );
      expect(list.tasks.find((t) => t.id === rs[0]?.id)).toMatchObject({
        name: 'dash.add',
        argsrepr: '(1, 1)',
        worker: worker.hostname,
      });
      const s = (await http.get('api/series?window=120')).body as SeriesView;
      expect(s.step).toBe(1);
      expect(s.succeeded).toHaveLength(120);
      expect(s.succeeded.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
      const o = (await http.get('api/overview')).body as OverviewView;
      expect(o.totals.succeeded).toBeGreaterThanOrEqual(3);
    });

    it('shows a failed task’s traceback on its page; 404 for an unknown id', async () => {
      const r = await tasks.fail.delay(1, 'page');
      await expect(r.get({ timeout: 15 })).rejects.toThrow(/boom/);
      const t = await http.until<TaskDetailView>(
        `api/tasks/${r.id}`,
        (b) => b.state === 'FAILURE',
        'the failed task page',
      );
      expect(t.traceback).toMatch(/boom 1 page/);
      expect(t.exception).toMatch(/boom/);
      const missing = await http.get('api/tasks/00000000-0000-4000-8000-000000000000');
      expect(missing.status).toBe(404);
      expect(missing.body).toHaveProperty('error');
    });

    it('draws a chord: header tasks → body', async () => {
      const r = await chord([tasks.add.s(1, 1), tasks.add.s(2, 2)], tasks.tsum.s()).applyAsync();
      expect(await r.get({ timeout: 20 })).toBe(6);
      const page = await http.until<TaskDetailView>(
        `api/tasks/${r.id}`,
        // Events may still be on their way: wait for both header parts and the body's name.
        (b) =>
          b.name !== null &&
          b.graph.nodes.some((n) => n.kind === 'chord') &&
          b.graph.edges.filter((e) => e.kind === 'body').length === 2,
        'the chord body page with its graph',
      );
      const chordNode = page.graph.nodes.find((n) => n.kind === 'chord');
      const header = page.graph.edges
        .filter((e) => e.from === chordNode?.id && e.kind === 'group')
        .map((e) => e.to);
      expect(header).toHaveLength(2);
      for (const h of header) expect(page.graph.edges).toContainEqual({ from: h, to: r.id, kind: 'body' });
      expect(page.graph.nodes.find((n) => n.id === r.id)).toMatchObject({ name: 'dash.sum', kind: 'task' });
      // A header member's page draws the same chord.
      const member = await http.get(`api/tasks/${header[0]}`);
      expect((member.body as TaskDetailView).graph.edges).toContainEqual({
        from: header[1],
        to: r.id,
        kind: 'body',
      });
    });

    it('revokes a scheduled (ETA) task: the worker replies, and the task never runs', async () => {
      const r = await tasks.add.applyAsync([5, 5], { countdown: 2 });
      await http.until<TaskDetailView>(
        `api/tasks/${r.id}`,
        (b) => b.state === 'RECEIVED',
        'the ETA task received',
      );
      const res = await http.post('api/actions/revoke', { id: r.id }, { 'x-csrf-token': csrf });
      expect(res.status).toBe(200);
      const body = res.body as ActionResultView;
      expect(body.ok).toBe(true);
      expect(body.replies).toContainEqual({
        worker: worker.hostname,
        ok: true,
        message: `tasks ${r.id} flagged as revoked`,
      });
      const t = await http.until<TaskDetailView>(
        `api/tasks/${r.id}`,
        (b) => b.state === 'REVOKED',
        'REVOKED',
      );
      expect(t.started).toBeNull();
      expect(t.succeeded).toBeNull();
    });

    it('retry re-sends a failed task with the same arguments', async () => {
      const r = await tasks.fail.delay(7, 'again');
      await expect(r.get({ timeout: 15 })).rejects.toThrow(/boom/);
      await http.until<TaskDetailView>(
        `api/tasks/${r.id}`,
        (b) => b.state === 'FAILURE',
        'the first failure',
      );
      const res = await http.post('api/actions/retry', { id: r.id }, { 'x-csrf-token': csrf });
      expect(res.status).toBe(200);
      const newId = (res.body as ActionResultView).id as string;
      expect(newId).toBeTruthy();
      expect(newId).not.toBe(r.id);
      const again = await http.until<TaskDetailView>(
        `api/tasks/${newId}`,
        // Its args come with task-received, which may be folded in after task-failed (the
        // state keeps a late task-received's fields: events/state.ts); wait for both, as for the state.
        (b) => b.state === 'FAILURE' && b.name !== null && b.argsrepr !== null,
        'the re-sent task failing again, with its task-received folded in',
      );
      expect(again).toMatchObject({ name: 'dash.fail', argsrepr: "(7, 'again')" });
      expect(again.traceback).toMatch(/boom 7 again/);
    });

    it('refuses actions without the CSRF token, by GET, from another origin, and unknown ones', async () => {
      const id = '00000000-0000-4000-8000-000000000001';
      expect((await http.post('api/actions/revoke', { id })).status).toBe(403);
      expect((await http.post('api/actions/revoke', { id }, { 'x-csrf-token': 'nope' })).status).toBe(403);
      expect((await http.get('api/actions/revoke')).status).toBe(405);
      const cross = await http.post(
        'api/actions/revoke',
        { id },
        { 'x-csrf-token': csrf, origin: 'https://evil.example' },
      );
      expect(cross.status).toBe(403);
      expect((await http.post('api/actions/explode', {}, { 'x-csrf-token': csrf })).status).toBe(404);
      const bad = await http.post('api/actions/revoke', { id: 42 }, { 'x-csrf-token': csrf });
      expect(bad.status).toBe(400);
    });

    it('sets a rate limit and reports the worker’s reply', async () => {
      const res = await http.post(
        'api/actions/rate-limit',
        { task: 'dash.add', rate: '100/s', worker: worker.hostname },
        { 'x-csrf-token': csrf },
      );
      expect(res.body).toMatchObject({
        ok: true,
        replies: [{ worker: worker.hostname, ok: true, message: expect.stringMatching(/rate limit/i) }],
      });
      const tl = await http.post(
        'api/actions/time-limit',
        { task: 'dash.add', soft: 30, hard: 60 },
        { 'x-csrf-token': csrf },
      );
      expect(tl.body).toMatchObject({ ok: true, replies: [{ worker: worker.hostname, ok: true }] });
    });

    it('lists, requeues and purges dead letters', async () => {
      const dlq = uniq('dlq');
      const origin = uniq('from');
      const broker = await dashApp.broker();
      const dead = (id: string): WireMessage => ({
        body: Buffer.from(JSON.stringify([[id], {}, {}])),
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: {
          id,
          task: 'dash.nope',
          argsrepr: `('${id}',)`,
          [DEAD_HEADERS.reason]: `reason of ${id}`,
          [DEAD_HEADERS.fromQueue]: origin,
          [DEAD_HEADERS.at]: '2026-12-01T12:00:00.000Z',
          [DEAD_HEADERS.id]: `dead-${id}`,
        },
        properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 },
      });
      for (const id of ['a', 'b', 'c']) await broker.publish(dlq, dead(id));
      const listed = (await http.get(`api/dead-letters?queue=${dlq}`)).body as { messages: DeadLetterView[] };
      expect(listed.messages).toHaveLength(3);
      expect(listed.messages[0]).toEqual({
        id: 'a',
        task: 'dash.nope',
        reason: 'reason of a',
        at: Date.parse('2026-12-01T12:00:00.000Z') / 1000,
        argsrepr: "('a',)",
        queue: origin,
      });
      const h = { 'x-csrf-token': csrf };
      const rq = await http.post('api/actions/dead-letter-requeue', { queue: dlq, ids: ['b'] }, h);
      expect(rq.body).toMatchObject({ ok: true, replies: [{ worker: 'broker', ok: true }] });
      expect(await broker.size(origin)).toBe(1);
      const pg = await http.post('api/actions/dead-letter-purge', { queue: dlq, ids: ['a'] }, h);
      expect(pg.body).toMatchObject({ ok: true, replies: [{ message: 'purged 1 dead letter' }] });
      const left = (await http.get(`api/dead-letters?queue=${dlq}`)).body as { messages: DeadLetterView[] };
      expect(left.messages.map((m) => m.id)).toEqual(['c']);
      await http.post('api/actions/dead-letter-purge', { queue: dlq }, h);
      await broker.purge(origin);
    });

    it('lists queues with their depth and consumers, and dead letters', async () => {
      const q = (
        await http.until<{ queues: { name: string; depth: number; consumers: number | null }[] }>(
          'api/queues',
          (b) => b.queues.some((x) => x.name === app.conf.taskDefaultQueue && x.consumers === 1),
          'the default queue with its consumer',
        )
      ).queues;
      expect(q.map((x) => x.name)).toContain(app.conf.workerDeadLetterQueue);
      const dl = await http.get('api/dead-letters?limit=10');
      expect(dl.status).toBe(200);
      expect(dl.body).toHaveProperty('messages');
    });

    it('streams coalesced updates over SSE', async () => {
      const ac = new AbortController();
      const res = await fetch(new URL('api/events', server.url), { signal: ac.signal });
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const r = await tasks.add.delay(40, 2);
      let text = '';
      await waitUntil(
        async () => {
          const { value } = await reader.read();
          text += new TextDecoder().decode(value);
          return text.includes(r.id) && text.includes('"state":"SUCCESS"');
        },
        20_000,
        'an update with the task',
      );
      expect(text).toMatch(/^retry: 2000\n\nevent: update\ndata: \{/);
      expect(server.handler.liveClients).toBe(1);
      ac.abort();
      await reader.cancel().catch(() => undefined);
      await waitUntil(() => server.handler.liveClients === 0, 10_000, 'the stream dropped on disconnect');
    });
  });
}
