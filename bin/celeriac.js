#!/usr/bin/env node
// The celeriac command. Runs the compiled CLI when the package is built (dist/); in a checkout it runs
// the TypeScript sources through tsx, so no build step is needed to try it.
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  process.env.CELERIAC_TSX_REGISTERED = '1';
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
