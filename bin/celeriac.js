#!/usr/bin/env node
// The celeriac command. An installed package (no src/) runs the compiled CLI in dist/. A checkout (src/
// next to this file) always runs the TypeScript sources through tsx, even when a build exists: the apps
// of a checkout (examples, tests, an app importing `celeriac`) load the sources, and a CLI from dist/
// would put a second copy of every class beside them, with stack traces mixing dist/*.js and src/*.ts.
//
// CELERIAC_CLI forces the choice: `dist` (the bench, right after building, whose apps import the build;
// fails when dist/ is missing) or `src` (fails when the sources are missing).
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
const src = new URL('../src/', import.meta.url);

function fail(message) {
  process.stderr.write(`celeriac: ${message}\n`);
  process.exit(1);
}

function useDist() {
  const forced = process.env.CELERIAC_CLI;
  if (forced && forced !== 'dist' && forced !== 'src')
    fail(`CELERIAC_CLI must be "dist" or "src", not "${forced}"`);
  const wantDist = forced ? forced === 'dist' : !existsSync(src);
  const want = wantDist ? dist : src;
  if (!existsSync(want)) {
    fail(
      wantDist
        ? `${want.pathname} is missing: build the package (npm run build) or reinstall it`
        : `CELERIAC_CLI=src but ${want.pathname} is missing`,
    );
  }
  return wantDist;
}

if (useDist()) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  process.env.CELERIAC_TSX_REGISTERED = '1';
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
