/**
 * The dashboard's guards over real HTTP (SQLite broker, no worker needed): a non-loopback bind refused
 * without credentials, Basic auth and tokens, read-only, mounting under a prefix in plain node:http,
 * the page's 503 without a build, and the 10,000-task bound (the oldest evicted) through the API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionView, StatsView, TaskListView } from '../../src/dashboard/api-types.js';
import { assetDir } from '../../src/dashboard/assets.js';
import { serveDashboard } from '../../src/dashboard/server.js';
import { Celeriac } from '../../src/index.js';
import { uniq } from '../helpers/services.js';
import { client } from './dashboard-helpers.js';

let dir: string;
let app: Celeriac;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-dash-sec-'));
  const url = `sqlite://${join(dir, 'b.db')}`;
  app = new Celeriac({ broker: url, backend: url, controlExchange: uniq('ctl'), eventExchange: uniq('ev') });
});

afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard security', () => {
  it('refuses to bind a non-loopback address without credentials, saying why', async () => {
    const err = await serveDashboard(app, { address: '0.0.0.0', port: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_DASHBOARD_UNPROTECTED' });
    expect((err as Error).message).toMatch(/--basic-auth user:pass or --token/);
  });

  it('with Basic auth: 401 and a challenge without it or with a wrong password, 200 with it', async () => {
    const s = await serveDashboard(app, { address: '0.0.0.0', port: 0, basicAuth: 'ann:s3cret' });
    try {
      const url = `http://127.0.0.1:${s.address.port}/`;
      const anon = await client(url).get('api/session');
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toMatch(/^Basic /);
      const wrong = client(url, { authorization: `Basic ${Buffer.from('ann:nope').toString('base64')}` });
      expect((await wrong.get('api/overview')).status).toBe(401);
      const ok = client(url, { authorization: `Basic ${Buffer.from('ann:s3cret').toString('base64')}` });
      const session = await ok.get('api/session');
      expect(session.status).toBe(200);
      expect(session.body).toMatchObject({ auth: 'basic' });
      // Actions need auth first (401), then the token (403).
      expect((await client(url).post('api/actions/revoke', { id: 'x' })).status).toBe(401);
      expect((await ok.post('api/actions/revoke', { id: 'x' })).status).toBe(403);
    } finally {
      await s.close();
    }
  });

  it('with a token: bearer header, or ?token= once in a browser (an HttpOnly cookie)', async () => {
    const s = await serveDashboard(app, { port: 0, token: 'tok-0123456789' });
    try {
      expect((await client(s.url).get('api/stats')).status).toBe(401);
      const bearer = client(s.url, { authorization: 'Bearer tok-0123456789' });
      expect((await bearer.get('api/stats')).status).toBe(200);
      const visit = await client(s.url).get('?token=tok-0123456789');
      expect(visit.status).toBe(303);
      const cookie = visit.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
      const browser = client(s.url, { cookie: cookie.split(';')[0] as string });
      expect((await browser.get('api/session')).body).toMatchObject({ auth: 'token' });
    } finally {
      await s.close();
    }
  });

  it('the CSRF token is tied to the credentials', async () => {
    const a = await serveDashboard(app, { port: 0, token: 'tok-aaaaaaaaaa' });
    try {
      const s1 = (await client(a.url, { authorization: 'Bearer tok-aaaaaaaaaa' }).get('api/session'))
        .body as SessionView;
      expect(s1.csrf).toMatch(/^[\w-]{20,}$/);
      const none = await serveDashboard(app, { port: 0 });
      try {
        const s2 = (await client(none.url).get('api/session')).body as SessionView;
        expect(s2.csrf).not.toBe(s1.csrf);
      } finally {
        await none.close();
      }
    } finally {
      await a.close();
    }
  });

  it('read-only refuses every action with 403, even with the CSRF token', async () => {
    const s = await serveDashboard(app, { port: 0, readOnly: true });
    try {
      const http = client(s.url);
      const session = (await http.get('api/session')).body as SessionView;
      expect(session.readOnly).toBe(true);
      const r = await http.post('api/actions/shutdown', { worker: 'w@h' }, { 'x-csrf-token': session.csrf });
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ error: expect.stringMatching(/read-only/) });
    } finally {
      await s.close();
    }
  });

  it('mounts under a prefix in plain node:http, and serves the page or a 503 saying to build it', async () => {
    const h = app.dashboard({ prefix: '/ops/dash' });
    const server: Server = createServer((req, res) => {
      if (req.url?.startsWith('/ops/dash')) return h(req, res);
      res.writeHead(200).end('the host app');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const http = client(base);
      const redirect = await http.get('ops/dash');
      expect(redirect.status).toBe(301);
      expect(redirect.headers.get('location')).toBe('/ops/dash/');
      expect((await http.get('ops/dash/api/session')).status).toBe(200);
      const page = await http.get('ops/dash/');
      if (assetDir()) {
        expect(page.status).toBe(200);
        expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      } else {
        expect(page.status).toBe(503);
        expect(page.body).toMatch(/npm run build/);
      }
      expect((await http.get('elsewhere')).body).toBe('the host app');
    } finally {
      await h.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('holds at most maxTasks tasks: the oldest are evicted', async () => {
    const s = await serveDashboard(app, { port: 0 });
    try {
      const feed = s.handler.model.store.event;
      const t0 = Date.now() / 1000;
      const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      for (let i = 0; i < 10_050; i++)
        feed({
          type: 'task-received',
          uuid: id(i),
          name: 'bound.t',
          args: '()',
          kwargs: '{}',
          hostname: 'w@h',
          timestamp: t0 + i / 1000,
          local_received: t0,
        });
      const http = client(s.url);
      const stats = (await http.get('api/stats')).body as StatsView;
      expect(stats).toMatchObject({ tasksHeld: 10_000, maxTasks: 10_000 });
      expect((await http.get(`api/tasks/${id(0)}`)).status).toBe(404);
      expect((await http.get(`api/tasks/${id(49)}`)).status).toBe(404);
      expect((await http.get(`api/tasks/${id(50)}`)).status).toBe(200);
      const page = (await http.get('api/tasks?name=bound.t&limit=3&sort=-received')).body as TaskListView;
      expect(page.total).toBe(10_000);
      expect(page.tasks.map((t) => t.id)).toEqual([id(10_049), id(10_048), id(10_047)]);
    } finally {
      await s.close();
    }
  });
});
