/**
 * Builds the dashboard's page (src/dashboard/web/) into dist/dashboard/web/: one index.html, one JS
 * bundle and one CSS file, the last two named by a hash of their content so a browser never mixes an
 * old bundle with a new page. esbuild bundles Preact, uPlot and the page's own TypeScript; nothing is
 * fetched at run time (no CDN), so the dashboard works offline and under `default-src 'self'`.
 *
 * `npm run build` runs it after tsc (`tsx scripts/build-dashboard.ts`); the browser tests' global
 * set-up calls `ensureDashboardBuilt()`, which rebuilds only when a source is newer than the build.
 * esbuild does not type-check: `npm run typecheck` runs tsc on src/dashboard/web/tsconfig.json.
 */

import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const WEB_SRC = join(ROOT, 'src', 'dashboard', 'web');
export const WEB_OUT = join(ROOT, 'dist', 'dashboard', 'web');
/** Written last, so its presence means a complete build; its mtime is the build's time. */
const STAMP = 'build.json';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** True when dist/dashboard/web is missing, incomplete, or older than a file of its sources. */
export function dashboardStale(out = WEB_OUT): boolean {
  let built: number;
  try {
    built = statSync(join(out, STAMP)).mtimeMs;
  } catch {
    return true;
  }
  // This script is an input too: a change to how the page is built (the gzip twins, say) rebuilds it.
  return Math.max(newestMtime(WEB_SRC), statSync(fileURLToPath(import.meta.url)).mtimeMs) > built;
}

export interface DashboardBuild {
  dir: string;
  js: string;
  css: string;
  /** Bytes of index.html + JS + CSS, uncompressed. */
  bytes: number;
}

export async function buildDashboard(out = WEB_OUT): Promise<DashboardBuild> {
  // Build into a fresh temp folder beside `out`, then swap, so a server reading `out` meanwhile never
  // sees a half-written page.
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const result = await build({
    entryPoints: { app: join(WEB_SRC, 'main.tsx') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    platform: 'browser',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // Content-hashed names under assets/, which the server caches for a year (index.html: no-cache).
    entryNames: 'assets/[name]-[hash]',
    outdir: tmp,
    metafile: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => `assets/${basename(p)}`);
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (!js || !css)
    throw new Error(`dashboard build: expected one .js and one .css, got ${outputs.join(', ')}`);
  // Relative URLs (./assets/app-HASH.js), so the page works mounted under any path prefix.
  const html = readFileSync(join(WEB_SRC, 'index.html'), 'utf8')
    .replace('%CSS%', `./${css}`)
    .replace('%JS%', `./${js}`);
  writeFileSync(join(tmp, 'index.html'), html);
  copyFileSync(join(WEB_SRC, 'favicon.svg'), join(tmp, 'favicon.svg'));
  let bytes = Buffer.byteLength(html);
  for (const f of [js, css]) bytes += statSync(join(tmp, f)).size;
  // Compressed once here rather than per request: the server sends `<file>.gz` to a browser that accepts
  // gzip (about a third of the bytes on a first load), and the plain file to anything else.
  for (const f of ['index.html', js, css, 'favicon.svg']) {
    writeFileSync(join(tmp, `${f}.gz`), gzipSync(readFileSync(join(tmp, f)), { level: 9 }));
  }
  writeFileSync(join(tmp, STAMP), `${JSON.stringify({ js, css, bytes })}\n`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, '..'), { recursive: true });
  renameSync(tmp, out);
  return { dir: out, js, css, bytes };
}

/** Build unless an up-to-date build is there (the tests' global set-up). */
export async function ensureDashboardBuilt(): Promise<string> {
  if (dashboardStale()) await buildDashboard();
  return WEB_OUT;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const b = await buildDashboard();
  console.log(`dashboard: ${b.dir} (${b.js}, ${b.css}; ${(b.bytes / 1024).toFixed(1)} KB)`);
}
