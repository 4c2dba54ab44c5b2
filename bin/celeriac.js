#!/usr/bin/env node
// The celeriac command. Runs the compiled CLI when the package is built (dist/); in a checkout it runs
// the TypeScript sources through tsx, so no build step is needed to try it.
//
// A checkout's dist/ runs only while it is at least as new as every file under src/: a build left behind
// by an older tree (another branch, an edit since) must never silently run in place of the sources, which
// is what tests that spawn this file and the benchmarks measure. An installed package has no src/.
// CELERIAC_CLI forces the choice: `dist` (the bench, right after building; fails when dist/ is missing)
// or `src` (vitest: tests exercise the sources they import, never a build).
import { existsSync, readdirSync, statSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
const src = new URL('../src/', import.meta.url);

/** Newest mtime (ms) of the files under `dir`; ~100 stats, about a millisecond. */
function newest(dir) {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) max = Math.max(max, statSync(`${e.parentPath}/${e.name}`).mtimeMs);
  }
  return max;
}

function useDist() {
  const forced = process.env.CELERIAC_CLI;
  if (forced === 'dist' || forced === 'src') {
    const want = forced === 'dist' ? dist : src;
    if (!existsSync(want)) {
      process.stderr.write(
        `celeriac: CELERIAC_CLI=${forced} but ${want.pathname} is missing${forced === 'dist' ? ' (run npm run build)' : ''}\n`,
      );
      process.exit(1);
    }
    return forced === 'dist';
  }
  if (forced) {
    process.stderr.write(`celeriac: CELERIAC_CLI must be "dist" or "src", not "${forced}"\n`);
    process.exit(1);
  }
  if (!existsSync(dist)) return false;
  if (!existsSync(src)) return true;
  if (statSync(dist).mtimeMs >= newest(src)) return true;
  process.stderr.write(
    'celeriac: dist/ is older than src/, running the sources (npm run build to refresh)\n',
  );
  return false;
}

if (useDist()) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  process.env.CELERIAC_TSX_REGISTERED = '1';
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
