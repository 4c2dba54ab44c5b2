/**
 * URL scheme → broker adapter. Adapters load lazily, so a user of Redis never loads amqplib and a missing
 * driver fails with the package to install (DriverMissingError), not a stack trace.
 */
import { parseUrl } from '../drivers/url.js';
import { ConfigError } from '../errors.js';
import { hint } from '../util/suggest.js';
import type { Broker } from './broker.js';

export type BrokerFactory = (url: URL, options: Record<string, unknown>) => Broker | Promise<Broker>;

const loaders = new Map<string, () => Promise<BrokerFactory>>([
  ['memory', async () => (await import('./memory/index.js')).createMemoryBroker],
  ['redis', async () => (await import('./redis/index.js')).createRedisBroker],
  ['rediss', async () => (await import('./redis/index.js')).createRedisBroker],
  ['sqlite', async () => (await import('./sqlite/index.js')).createSqliteBroker],
  ['amqp', async () => (await import('./amqp/index.js')).createAmqpBroker],
  ['amqps', async () => (await import('./amqp/index.js')).createAmqpBroker],
]);

/** Register a broker adapter for a URL scheme (without the colon). */
export function registerBroker(scheme: string, load: () => Promise<BrokerFactory>): void {
  loaders.set(scheme, load);
}

export async function createBroker(url: string, options: Record<string, unknown> = {}): Promise<Broker> {
  const parsed = parseUrl(url, 'broker');
  const scheme = parsed.protocol.replace(/:$/, '');
  const load = loaders.get(scheme);
  if (!load)
    throw new ConfigError(
      `Unknown broker scheme "${scheme}://"${hint(scheme, loaders.keys())}; known: ${[...loaders.keys()].join(', ')}`,
    );
  return (await load())(parsed, options);
}
