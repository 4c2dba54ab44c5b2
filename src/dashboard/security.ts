/**
 * The dashboard's guards. Responsibilities:
 *  - bind: loopback (127.0.0.0/8, ::1, localhost) unless credentials are given; any other address
 *    without `basicAuth` or `token` refuses to start (DashboardUnprotected, code E_DASHBOARD_UNPROTECTED);
 *  - authentication: HTTP Basic (`user:pass`) or a bearer token (`Authorization: Bearer T`, or the
 *    HttpOnly SameSite=Strict cookie set by visiting `/?token=T` once, so a browser can use it), each
 *    compared in constant time (both sides hashed first, so not even the length leaks);
 *  - CSRF: the token /api/session hands out is an HMAC of the authenticated identity under a secret
 *    made at start, so it is tied to the credentials; a POST must carry it in `x-csrf-token`. Another
 *    origin cannot read /api/session (no CORS headers, ever), and setting a custom header cross-origin
 *    needs a CORS preflight we never grant; on top, a request whose Origin header is not this host's is
 *    refused outright.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { CeleriacError } from '../errors.js';

/** The dashboard would listen beyond loopback with no credentials. */
export class DashboardUnprotected extends CeleriacError {
  constructor(address: string) {
    super(
      'E_DASHBOARD_UNPROTECTED',
      `refusing to serve the dashboard on ${address} without credentials: anyone who can reach it could revoke tasks and shut workers down. Pass --basic-auth user:pass or --token <secret> (app.dashboard({ basicAuth, token })), or bind 127.0.0.1`,
    );
  }
}

/** An option of the dashboard is invalid. */
export class DashboardOptionError extends CeleriacError {
  constructor(message: string) {
    super('E_DASHBOARD_OPTION', message);
  }
}

export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '');
  if (a === 'localhost') return true;
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1' || a === '::ffff:127.0.0.1';
}

export interface AuthOptions {
  /** `user:pass` for HTTP Basic auth. */
  readonly basicAuth?: string | undefined;
  /** A bearer token. */
  readonly token?: string | undefined;
}

export function checkBind(address: string, auth: AuthOptions): void {
  if (!isLoopback(address) && !auth.basicAuth && !auth.token) throw new DashboardUnprotected(address);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const same = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

export const TOKEN_COOKIE = 'celeriac_dashboard_token';

function cookie(req: IncomingMessage, name: string): string | null {
  const raw = req.headers.cookie;
  if (!raw) return null;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

export class Guard {
  readonly mode: 'none' | 'basic' | 'token';
  readonly #basic: string | null;
  readonly #token: string | null;
  readonly #secret = randomBytes(32);

  constructor(auth: AuthOptions) {
    if (auth.basicAuth && auth.token) throw new DashboardOptionError('give basicAuth or token, not both');
    if (auth.basicAuth !== undefined && !/^[^:]+:.+$/.test(auth.basicAuth))
      throw new DashboardOptionError('basicAuth must be "user:password" (both non-empty)');
    if (auth.token !== undefined && auth.token.length < 8)
      throw new DashboardOptionError('token must be at least 8 characters');
    this.#basic = auth.basicAuth ?? null;
    this.#token = auth.token ?? null;
    this.mode = this.#basic ? 'basic' : this.#token ? 'token' : 'none';
  }

  /** Who the request authenticates as (the identity the CSRF token is tied to), or null: refused. */
  identify(req: IncomingMessage, queryToken: string | null): string | null {
    if (this.mode === 'none') return 'anonymous';
    const h = req.headers.authorization ?? '';
    if (this.#basic) {
      if (!h.startsWith('Basic ')) return null;
      const given = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
      return same(given, this.#basic) ? `basic:${this.#basic.split(':')[0]}` : null;
    }
    const token = this.#token as string;
    const given = h.startsWith('Bearer ') ? h.slice(7).trim() : (queryToken ?? cookie(req, TOKEN_COOKIE));
    return given !== null && same(given, token) ? 'token' : null;
  }

  csrfFor(identity: string): string {
    return createHmac('sha256', this.#secret).update(identity).digest('base64url');
  }

  csrfValid(identity: string, given: string | string[] | undefined): boolean {
    return typeof given === 'string' && same(given, this.csrfFor(identity));
  }
}

/** A request from a page of another origin (its Origin header names another host). */
export function crossOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false; // curl, or a same-origin GET that sends none
  if (origin === 'null') return true;
  try {
    // Behind a reverse proxy the Host header may be the proxy's upstream; X-Forwarded-Host is the public one.
    const host = new URL(origin).host;
    return host !== req.headers.host && host !== req.headers['x-forwarded-host'];
  } catch {
    return true;
  }
}
