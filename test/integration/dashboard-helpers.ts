/**
 * Shared set-up of the dashboard API tests: a worker app and a dashboard app (another connection, as
 * another process would be) on one broker, with unique exchanges and queues, and a tiny HTTP client.
 */
import type { Celeriac } from '../../src/celeriac.js';
import { waitUntil } from '../helpers/services.js';

export interface Http {
  status: number;
  headers: Headers;
  body: unknown;
}

export function client(base: string, auth: Record<string, string> = {}) {
  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(new URL(path, base), {
      method,
      headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      redirect: 'manual',
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (static text, SSE)
    }
    return { status: res.status, headers: res.headers, body: parsed } as Http;
  }
  return {
    get: (path: string, headers?: Record<string, string>) => call('GET', path, undefined, headers),
    post: (path: string, body: unknown, headers?: Record<string, string>) =>
      call('POST', path, body, headers),
    /** GET until `check` holds on the JSON body. */
    async until<T>(path: string, check: (body: T) => boolean, what: string): Promise<T> {
      let last: T | undefined;
      await waitUntil(
        async () => {
          last = (await call('GET', path)).body as T;
          return check(last);
        },
        20_000,
        what,
      );
      return last as T;
    },
  };
}

/** The tasks every suite defines on the worker app. */
export function defineTasks(app: Celeriac) {
  const add = app.task('dash.add', (x: number, y: number) => x + y);
  const fail = app.task('dash.fail', (x: number, tag: string) => {
    throw new Error(`boom ${x} ${tag}`);
  });
  const tsum = app.task('dash.sum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  // Computes synchronously for 300 ms: the blocking monitor blames it for an event-loop stall.
  const block = app.task('dash.block', () => {
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // spin
    }
    return 'done';
  });
  return { add, fail, tsum, block };
}
