/**
 * Where the child entry lives and how a child gets TypeScript: shared by prefork.ts and threads.ts.
 *
 * From a source checkout (tests, `tsx`), child.ts is itself TypeScript, so the child registers tsx
 * before loading it: `--import tsx` for a process, tsx's register() in a small bootstrap for a thread
 * (`--import` in a thread's execArgv does not reach its module loader). From the build, child.js is
 * JavaScript and registers tsx itself only when the app module is TypeScript (loader/app.ts).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHILD_ENV } from './ipc.js';

const fromSource = import.meta.url.endsWith('.ts');

/** URL of the child entry next to this file. */
export const childEntry = new URL(fromSource ? './child.ts' : './child.js', import.meta.url);

/** True when the child entry needs tsx to load. */
export const childNeedsTsx = fromSource;

const require = createRequire(import.meta.url);

/** tsx's loader (what `node --import tsx` loads), as a file URL. */
export function tsxLoaderUrl(): string {
  return pathToFileURL(require.resolve('tsx')).href;
}

/** tsx's ESM register() API, as a file URL: the `import` condition of `tsx/esm/api`. */
export function tsxApiUrl(): string {
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
    exports: Record<string, { import?: { default?: string } } | string>;
  };
  const entry = pkg.exports['./esm/api'];
  const rel = typeof entry === 'object' ? entry.import?.default : undefined;
  if (!rel) throw new Error('this version of tsx has no ESM register API (tsx/esm/api)');
  return pathToFileURL(join(dirname(pkgPath), rel)).href;
}

/**
 * The child's environment: marked as a pool child, and told whether tsx is registered already (the
 * worker's own flag must not leak into a child that has to register tsx itself).
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: '1' };
  if (childNeedsTsx) env.CELERIAC_TSX_REGISTERED = '1';
  else delete env.CELERIAC_TSX_REGISTERED;
  return env;
}
