/** URL scheme → result backend adapter, loaded lazily (see brokers/registry.ts). */

import { parseUrl } from '../drivers/url.js';
import { ConfigError } from '../errors.js';
import { hint } from '../util/suggest.js';
import type { ResultBackend } from './backend.js';

export type BackendFactory = (
  url: URL,
  options: Record<string, unknown>,
) => ResultBackend | Promise<ResultBackend>;

const loaders = new Map<string, () => Promise<BackendFactory>>([
  ['memory', async () => (await import('./memory/index.js')).createMemoryBackend],
  ['redis', async () => (await import('./redis/index.js')).createRedisBackend],
  ['rediss', async () => (await import('./redis/index.js')).createRedisBackend],
  ['sqlite', async () => (await import('./sqlite/index.js')).createSqliteBackend],
  ['rpc', async () => (await import('./rpc/index.js')).createRpcBackend],
]);

export function registerBackend(scheme: string, load: () => Promise<BackendFactory>): void {
  loaders.set(scheme, load);
}

export function backendSchemes(): string[] {
  return [...loaders.keys()];
}

export async function createBackend(
  url: string,
  options: Record<string, unknown> = {},
): Promise<ResultBackend> {
  const parsed = parseUrl(url, 'result backend');
  const scheme = parsed.protocol.replace(/:$/, '');
  const load = loaders.get(scheme);
  if (!load)
    throw new ConfigError(
      `Unknown result backend scheme "${scheme}://"${hint(scheme, loaders.keys())}; known: ${[...loaders.keys()].join(', ')}`,
    );
  return (await load())(parsed, options);
}
