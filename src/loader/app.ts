/**
 * Load the app module named by `-A`: a .ts/.mts/.cts/.js/.mjs/.cjs path (the extension may be left out:
 * `-A ./tasks` finds tasks.ts) or a package name. TypeScript loads with no build step through tsx's
 * loader, registered once for the whole process, so the app, its tasks and Celeriac share one module
 * graph; hooks.ts makes a TypeScript app an ES module in any project. The module must export `app` or a
 * default that is a Celeriac app; anything else gets an error naming what it does export.
 *
 * Why it lives outside cli/: the CLI loads the app for `celeriac worker -A …`, and so does every pool
 * child (worker/pools/child.ts) when it starts; keeping the loader here means a pool never imports the
 * CLI. It imports only types from app/, so loading an app module does not pull the app in twice.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { App } from '../app/app.js';
import { ConfigError } from '../errors.js';
import { registerAppHooks } from './hooks.js';
import { syntaxErrorAt } from './syntax.js';

/** This file runs from the sources (a checkout, through tsx) rather than from dist/. */
const fromSource = import.meta.url.endsWith('.ts');

/** In a checkout, `celeriac` imported by an app means the sources the CLI runs (hooks.ts says why). */
function selfRefs(): Record<string, string> {
  if (!fromSource) return {};
  return {
    celeriac: new URL('../index.ts', import.meta.url).href,
    'celeriac/testing': new URL('../testing/index.ts', import.meta.url).href,
  };
}

let tsxRegistered = false;

export async function registerTypeScript(): Promise<void> {
  if (!tsxRegistered && !process.env.CELERIAC_TSX_REGISTERED) {
    const { register } = await import('tsx/esm/api');
    register();
    tsxRegistered = true;
    process.env.CELERIAC_TSX_REGISTERED = '1';
  }
  // After tsx, so the hooks see (and correct) what tsx resolved.
  registerAppHooks(selfRefs());
}

const EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

function looksLikePath(spec: string): boolean {
  return spec.startsWith('.') || spec.startsWith('/') || /\.(c|m)?(t|j)sx?$/.test(spec);
}

/** Resolve `-A` to something import() takes: a file URL for paths, the name for packages. */
export function resolveAppModule(spec: string, cwd = process.cwd()): string {
  // Already resolved (pool children receive the URL the worker resolved).
  if (spec.startsWith('file:')) return spec;
  if (!looksLikePath(spec)) return spec;
  const path = resolve(cwd, spec);
  if (existsSync(path) && statSync(path).isFile()) return pathToFileURL(path).href;
  // `-A ./tasks` (as Python's `-A tasks`): the first of tasks.ts, tasks.mts, … tasks.cjs, then a folder's index.
  const candidates = [...EXTENSIONS.map((e) => path + e), ...EXTENSIONS.map((e) => `${path}/index${e}`)];
  const found = candidates.find((c) => existsSync(c));
  if (found) return pathToFileURL(found).href;
  throw new ConfigError(
    `Cannot load the app: no file "${spec}" (resolved to ${path}; also tried ${EXTENSIONS.join(', ')})`,
  );
}

function isApp(value: unknown): value is App {
  return (
    typeof value === 'object' &&
    value !== null &&
    'tasks' in value &&
    typeof (value as App).task === 'function' &&
    typeof (value as App).broker === 'function'
  );
}

/** "exports celery (a Celeriac app), add, mul": what a module without `app` offers, for the error. */
function describeExports(mod: Record<string, unknown>): string {
  const names = Object.keys(mod).filter((k) => k !== 'default' || mod.default !== undefined);
  if (names.length === 0) return 'it exports nothing';
  const shown = names.slice(0, 12).map((k) => (isApp(mod[k]) ? `${k} (a Celeriac app)` : k));
  return `it exports ${shown.join(', ')}${names.length > 12 ? `, … (${names.length} in all)` : ''}`;
}

export async function loadApp(spec: string): Promise<{ app: App; module: string }> {
  const module = resolveAppModule(spec);
  // Every app goes through the hooks in a checkout (one copy of Celeriac); TypeScript needs tsx anywhere.
  if (/\.(c|m)?tsx?$/.test(module)) await registerTypeScript();
  else if (fromSource) registerAppHooks(selfRefs());
  let mod: Record<string, unknown>;
  try {
    mod = (await import(module)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && !looksLikePath(spec) && e.message.includes(`'${spec}'`)) {
      throw new ConfigError(
        `Cannot load the app: no package "${spec}" is installed (or pass a file path like ./tasks.ts)`,
      );
    }
    const at = module.startsWith('file:') ? await syntaxErrorAt(err, fileURLToPath(module)) : null;
    if (at) throw new ConfigError(`Cannot load the app: syntax error in ${at}`);
    throw err;
  }
  const nested = mod.default as Record<string, unknown> | undefined;
  const candidate = [mod.app, mod.default, nested?.app].find(isApp);
  if (!candidate) {
    const other = Object.keys(mod).find((k) => isApp(mod[k]));
    const fix = other
      ? `rename it, or add \`export { ${other} as app }\``
      : 'add `export const app = new Celeriac(...)` or `export default app`';
    throw new ConfigError(
      `Module "${spec}" exports no Celeriac app as \`app\` or \`default\`: ${describeExports(mod)}; ${fix}`,
    );
  }
  return { app: candidate, module };
}
