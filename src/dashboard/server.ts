/**
 * The dashboard's HTTP side: `dashboardHandler(app, options)` is a Node request handler
 * (`(req, res, next?) => void`) to mount under a prefix in node:http, express or fastify's raw server;
 * `serveDashboard` listens with one (what `celeriac dashboard` and `worker --dashboard` run).
 * Per request: strip the prefix, authenticate (security.ts), then route: /api/* (routes.ts), SSE
 * (sse.ts), actions (POST, CSRF token, not read-only), /metrics, else static files (static.ts).
 * Every response says nosniff, no-referrer and no framing; JSON is no-store; no CORS header is ever
 * sent, so no other origin can read anything.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../app/app.js';
import { ACTIONS, ActionError, runAction } from './actions.js';
import type { ActionName } from './api-types.js';
import { serveMetrics } from './metrics.js';
import { DashboardModel } from './model.js';
import { DASHBOARD_DEFAULTS, type DashboardOptions, type ServeOptions } from './options.js';
import { Api, HttpError } from './routes.js';
import { checkBind, crossOrigin, Guard, TOKEN_COOKIE } from './security.js';
import { SseHub } from './sse.js';
import { PAGE_CSP, serveStatic } from './static.js';

export type { DashboardOptions, ServeOptions } from './options.js';

const BASE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export interface DashboardHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  readonly model: DashboardModel;
  /** Clients connected to the live stream now. */
  readonly liveClients: number;
  /** Subscribe to events now rather than at the first request. */
  start(): Promise<void>;
  /** Stop the live streams, the polls and the event subscription (the app stays open). */
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      ...BASE_HEADERS,
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': String(Buffer.byteLength(text)),
      ...extra,
    })
    .end(text);
}

const MAX_BODY = 64 * 1024;

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'the body is over 64 KiB'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve({});
      try {
        const v = JSON.parse(text) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, 'the body must be a JSON object'));
      }
    });
    req.on('error', reject);
  });
}

export function dashboardHandler(app: App, options: DashboardOptions = {}): DashboardHandler {
  const guard = new Guard(options);
  const readOnly = options.readOnly === true;
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  const model = new DashboardModel(app, {
    maxTasks: options.maxTasks ?? DASHBOARD_DEFAULTS.maxTasks,
    pollSeconds: options.pollSeconds ?? DASHBOARD_DEFAULTS.pollSeconds,
    ...(options.now ? { now: options.now } : {}),
  });
  const api = new Api(model);
  const hub = new SseHub(model);

  async function route(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) {
    const method = req.method ?? 'GET';
    if (crossOrigin(req)) return json(res, 403, { error: 'cross-origin requests are refused' });
    const identity = guard.identify(req, query.get('token'));
    if (identity === null) {
      const challenge: Record<string, string> =
        guard.mode === 'basic'
          ? { 'www-authenticate': 'Basic realm="celeriac dashboard", charset="UTF-8"' }
          : {};
      return json(res, 401, { error: `authentication required (${guard.mode})` }, challenge);
    }
    if (guard.mode === 'token' && query.get('token') !== null && !path.startsWith('/api/')) {
      // A browser visiting ?token=T once: keep it in a cookie only this origin sends, drop it from the URL.
      const back = (prefix || '') + path;
      res
        .writeHead(303, {
          ...BASE_HEADERS,
          location: back,
          'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(query.get('token') as string)}; HttpOnly; SameSite=Strict; Path=${prefix || '/'}`,
        })
        .end();
      return;
    }
    if (path === '/metrics') {
      if (method !== 'GET') return json(res, 405, { error: 'GET only' });
      return serveMetrics(app, model, res, BASE_HEADERS);
    }
    if (!path.startsWith('/api/')) {
      if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { error: 'GET only' });
      if (
        serveStatic(path, res, BASE_HEADERS, method === 'HEAD', String(req.headers['accept-encoding'] ?? ''))
      )
        return;
      return json(res, 404, { error: `not found: ${path}` });
    }
    if (path.startsWith('/api/actions/')) {
      if (method !== 'POST') return json(res, 405, { error: 'actions are POST' }, { allow: 'POST' });
      if (readOnly) return json(res, 403, { error: 'the dashboard is read-only (--read-only)' });
      if (!guard.csrfValid(identity, req.headers['x-csrf-token']))
        return json(res, 403, { error: 'missing or wrong x-csrf-token (GET /api/session gives it)' });
      const name = path.slice('/api/actions/'.length) as ActionName;
      if (!ACTIONS.includes(name))
        return json(res, 404, { error: `no action "${name}" (one of ${ACTIONS.join(', ')})` });
      const body = await readJson(req);
      await model.start();
      return json(res, 200, await runAction({ app, store: model.store, metaOf: api.metaOf }, name, body));
    }
    if (method !== 'GET') return json(res, 405, { error: 'GET only' }, { allow: 'GET' });
    if (path === '/api/session')
      return json(res, 200, api.session(readOnly, guard.csrfFor(identity), guard.mode));
    await model.start();
    switch (path) {
      case '/api/overview':
        return json(res, 200, api.overview());
      case '/api/series':
        return json(res, 200, api.series(query));
      case '/api/tasks':
        return json(res, 200, api.tasks(query));
      case '/api/queues':
        return json(res, 200, await api.queues());
      case '/api/dead-letters':
        return json(res, 200, await api.deadLetters(query));
      case '/api/stats':
        return json(res, 200, api.stats());
      case '/api/events':
        return hub.open(req, res, BASE_HEADERS);
    }
    if (path.startsWith('/api/tasks/')) {
      const id = decodeURIComponent(path.slice('/api/tasks/'.length));
      return json(res, 200, await api.task(id));
    }
    return json(res, 404, { error: `no route ${path}` });
  }

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    let path = url.pathname;
    if (prefix) {
      if (path === prefix) {
        // Relative links on the page need the trailing slash.
        res.writeHead(301, { ...BASE_HEADERS, location: `${prefix}/${url.search}` }).end();
        return;
      }
      if (path.startsWith(`${prefix}/`)) path = path.slice(prefix.length);
      else if (next) return next();
      // else: a framework already stripped the mount path (express's app.use('/x', handler)).
    }
    route(req, res, path, url.searchParams).catch((err: unknown) => {
      const status = err instanceof HttpError || err instanceof ActionError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (res.headersSent) res.end();
      else json(res, status, { error: message });
    });
  }) as DashboardHandler;
  Object.defineProperties(handler, {
    model: { value: model },
    liveClients: { get: () => hub.clients },
    start: { value: () => model.start() },
    close: {
      value: async () => {
        hub.close();
        await model.close();
      },
    },
  });
  return handler;
}

export interface DashboardServer {
  /** http://host:port/ */
  readonly url: string;
  readonly address: { host: string; port: number };
  readonly handler: DashboardHandler;
  close(): Promise<void>;
}

/** Listen on `address:port` (127.0.0.1:5555 by default); refuses a non-loopback address without credentials. */
export async function serveDashboard(app: App, options: ServeOptions = {}): Promise<DashboardServer> {
  const host = options.address ?? DASHBOARD_DEFAULTS.address;
  const port = options.port ?? DASHBOARD_DEFAULTS.port;
  checkBind(host, options);
  const handler = dashboardHandler(app, options);
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  try {
    await handler.start();
  } catch (err) {
    // The broker is unreachable (or carries no broadcasts): do not leave a server listening for nothing.
    await handler.close().catch(() => undefined);
    await new Promise<void>((r) => server.close(() => r()));
    throw err;
  }
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}/`,
    address: { host, port: bound },
    handler,
    close: async () => {
      await handler.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export { PAGE_CSP };
