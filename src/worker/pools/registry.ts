/**
 * Pools by name: the four built in (loaded on first use, so a worker that never forks never loads the
 * child-process code), Celery's aliases, and third-party pools added with `registerPool`.
 */
import { ConfigError } from '../../errors.js';
import { hint } from '../../util/suggest.js';
import type { Pool, PoolContext, PoolFactory } from './pool.js';

const factories = new Map<string, () => Promise<PoolFactory>>([
  ['async', async () => (await import('./async.js')).createAsyncPool],
  ['solo', async () => (await import('./async.js')).createSoloPool],
  ['prefork', async () => (await import('./prefork.js')).createPreforkPool],
  ['threads', async () => (await import('./threads.js')).createThreadsPool],
]);

/** Celery's green pool names map to the event-loop pool; `processes` is Celery's other name for prefork. */
export const POOL_ALIASES: Record<string, string> = {
  eventlet: 'async',
  gevent: 'async',
  processes: 'prefork',
};

export function registerPool(name: string, load: () => Promise<PoolFactory>): void {
  factories.set(name, load);
}

export function poolNames(): string[] {
  return [...factories.keys(), ...Object.keys(POOL_ALIASES)];
}

export async function createPool(name: string, ctx: PoolContext): Promise<Pool> {
  const real = POOL_ALIASES[name] ?? name;
  const load = factories.get(real);
  if (!load) {
    throw new ConfigError(
      `Unknown pool "${name}"${hint(name, poolNames())}; known: ${poolNames().join(', ')}`,
    );
  }
  return (await load())(ctx);
}
