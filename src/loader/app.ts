/**
 * Load the app module named by `-A`: a .ts/.mts/.js/.mjs path or a package name. TypeScript loads with
 * no build step through tsx's loader (registered once for the whole process, so the app, its tasks and
 * Celeriac share one module graph). The module must export `app` or a default that is a Celeriac app.
 *
 * Why it lives outside cli/: the CLI loads the app for `celeriac worker -A …`, and so does every pool
 * child (worker/pools/child.ts) when it starts; keeping the loader here means a pool never imports the
 * CLI. It imports only types from app/, so loading an app module does not pull the app in twice.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { App } from '../app/app.js';
import { ConfigError } from '../errors.js';

let tsxRegistered = false;

export async function registerTypeScript(): Promise<void> {
  if (tsxRegistered || process.env.CELERIAC_TSX_REGISTERED) return;
  const { register } = await import('tsx/esm/api');
  register();
  tsxRegistered = true;
  process.env.CELERIAC_TSX_REGISTERED = '1';
}

function looksLikePath(spec: string): boolean {
  return spec.startsWith('.') || spec.startsWith('/') || /\.(c|m)?(t|j)sx?$/.test(spec);
}

/** Resolve `-A` to something import() takes: a file URL for paths, the name for packages. */
export function resolveAppModule(spec: string, cwd = process.cwd()): string {
  // Already resolved (pool children receive the URL the worker resolved).
  if (spec.startsWith('file:')) return spec;
  if (!looksLikePath(spec)) return spec;
  const path = resolve(cwd, spec);
  if (!existsSync(path))
    throw new ConfigError(`Cannot load the app: no file "${spec}" (resolved to ${path})`);
  return pathToFileURL(path).href;
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

export async function loadApp(spec: string): Promise<{ app: App; module: string }> {
  const module = resolveAppModule(spec);
  if (/\.(c|m)?tsx?$/.test(module)) await registerTypeScript();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(module)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && !looksLikePath(spec)) {
      throw new ConfigError(
        `Cannot load the app: no package "${spec}" is installed (or pass a file path like ./tasks.ts)`,
      );
    }
    throw err;
  }
  const candidate = [mod.app, mod.default, (mod.default as Record<string, unknown> | undefined)?.app].find(
    isApp,
  );
  if (!candidate) {
    throw new ConfigError(
      `Module "${spec}" exports no Celeriac app: add \`export const app = new Celeriac(...)\` or \`export default app\``,
    );
  }
  return { app: candidate, module };
}
