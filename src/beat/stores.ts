/**
 * Which beat store an app's beats share. The rule: beats coordinate through the store the broker already
 * is, so running beat adds no service and every beat of a deployment finds the others:
 *  - sqlite:// broker → the lease and claims in the broker's file;
 *  - redis:// / rediss:// broker → the broker's Redis database, under its global_keyprefix;
 *  - memory:// broker → one in-process store per URL (tests, a single process);
 *  - amqp:// broker → RabbitMQ has no atomic compare-and-set to fence a claim with (a single-active-
 *    consumer queue elects a leader but cannot refuse a paused former leader's send), so the result
 *    backend's store is used when it is Redis or SQLite; any other backend fails with a ConfigError.
 * Stores load lazily: a Redis user never loads better-sqlite3.
 */
import type { App } from '../app/app.js';
import { parseUrl } from '../drivers/url.js';
import { ConfigError } from '../errors.js';
import { MemoryBeatStore } from './memory-store.js';
import type { BeatStore } from './store.js';

const memoryStores = new Map<string, MemoryBeatStore>();

function scheme(url: string): string {
  return url.split(':')[0] ?? '';
}

async function storeFor(url: string, options: Record<string, unknown>, what: string): Promise<BeatStore> {
  const parsed = parseUrl(url, what === 'broker' ? 'broker' : 'result backend');
  switch (scheme(url)) {
    case 'memory': {
      let s = memoryStores.get(parsed.href);
      if (!s) {
        s = new MemoryBeatStore();
        memoryStores.set(parsed.href, s);
      }
      return s;
    }
    case 'redis':
    case 'rediss': {
      const { parseRedisUrl } = await import('../drivers/redis/connection.js');
      const { RedisBeatStore } = await import('./redis-store.js');
      const target = parseRedisUrl(parsed);
      // Only the key prefix matters here; every other option belongs to the broker or backend.
      const prefix =
        target.query.global_keyprefix ?? options.globalKeyprefix ?? options.global_keyprefix ?? '';
      return new RedisBeatStore(target, String(prefix));
    }
    case 'sqlite': {
      const { parseSqliteUrl } = await import('../drivers/sqlite/options.js');
      const { SqliteBeatStore } = await import('./sqlite-store.js');
      return new SqliteBeatStore(parseSqliteUrl(parsed, options));
    }
    default:
      throw new ConfigError(`no beat store for ${what} "${scheme(url)}://"`);
  }
}

/** The store the app's beats share (not connected yet). */
export async function createBeatStore(app: App): Promise<BeatStore> {
  const { brokerUrl, resultBackend } = app.conf;
  const b = scheme(brokerUrl);
  if (b === 'amqp' || b === 'amqps') {
    const r = resultBackend ? scheme(resultBackend) : '';
    if (resultBackend && ['redis', 'rediss', 'sqlite'].includes(r))
      return storeFor(resultBackend, app.conf.resultBackendTransportOptions, 'result backend');
    throw new ConfigError(
      `beat on an ${b}:// broker keeps its lease and claims in the result backend, which must be redis:// or sqlite:// (got ${resultBackend ? `"${r}://"` : 'none'}); set "backend", e.g. redis://localhost:6379/0`,
    );
  }
  if (!['memory', 'redis', 'rediss', 'sqlite'].includes(b))
    throw new ConfigError(
      `beat has no store for the "${b}://" broker (sqlite, redis, memory, or amqp with a redis/sqlite backend)`,
    );
  return storeFor(brokerUrl, app.conf.brokerTransportOptions, 'broker');
}
