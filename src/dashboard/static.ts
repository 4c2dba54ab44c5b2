/**
 * The page's static files, from `assetDir()` (dash-web's build output). Paths are resolved inside that
 * directory only (no `..` escapes); `index.html` is revalidated on every load (it names the current
 * bundles), files under `assets/` (content-hashed names) are cached for a year, anything else an hour.
 * Without a build, `/` answers 503 saying how to make one.
 */
import { createReadStream, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { assetDir } from './assets.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The page's policy: nothing but this origin, no inline script, no framing. */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function serveStatic(
  path: string,
  res: ServerResponse,
  headers: Record<string, string>,
  head: boolean,
  acceptEncoding = '',
): boolean {
  const dir = assetDir();
  if (!dir) {
    if (path !== '/' && path !== '/index.html') return false;
    res
      .writeHead(503, {
        ...headers,
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
      })
      .end(
        'The dashboard page is not built: run `npm run build` (it writes dist/dashboard/web). The JSON API under api/ works without it.\n',
      );
    return true;
  }
  let rel: string;
  try {
    rel = decodeURIComponent(path === '/' ? '/index.html' : path);
  } catch {
    return false;
  }
  const file = normalize(join(dir, rel));
  if (!file.startsWith(dir.endsWith(sep) ? dir : dir + sep)) return false;
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return false;
    size = st.size;
  } catch {
    return false;
  }
  // The build writes a gzip twin of each text file; send it when the client takes gzip.
  let body = file;
  let encoding: Record<string, string> = {};
  if (/\bgzip\b/.test(acceptEncoding)) {
    try {
      size = statSync(`${file}.gz`).size;
      body = `${file}.gz`;
      encoding = { 'content-encoding': 'gzip' };
    } catch {
      // no twin (an image, an older build): the plain file
    }
  }
  const ext = extname(file).toLowerCase();
  const isIndex = ext === '.html';
  const cache = isIndex
    ? 'no-cache'
    : rel.startsWith('/assets/')
      ? 'public, max-age=31536000, immutable'
      : 'public, max-age=3600';
  res.writeHead(200, {
    ...headers,
    'content-type': TYPES[ext] ?? 'application/octet-stream',
    'content-length': String(size),
    'cache-control': cache,
    vary: 'accept-encoding',
    ...encoding,
    ...(isIndex ? { 'content-security-policy': PAGE_CSP } : {}),
  });
  if (head) res.end();
  else createReadStream(body).pipe(res);
  return true;
}
