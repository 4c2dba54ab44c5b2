/**
 * Opening the app's two connections from its settings: the broker, with Celery's start-up retries
 * (brokers/connect.ts), and the result backend, on the broker's URL when none is set and that broker
 * can store results. The app opens each once, on first use, and forgets a failed attempt.
 */
import type { ResultBackend } from '../backends/backend.js';
import { backendSchemes, createBackend } from '../backends/registry.js';
import type { Broker } from '../brokers/broker.js';
import { connectWithRetry } from '../brokers/connect.js';
import { createBroker } from '../brokers/registry.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { Settings } from './config.js';
import { clientLogger } from './publish-listeners.js';

/** Each failed attempt is logged to `logger` (a worker's; stderr for a client); `signal` ends the wait. */
export async function openBroker(
  conf: Readonly<Settings>,
  options: { logger?: Logger; signal?: AbortSignal },
): Promise<Broker> {
  const b = await createBroker(conf.brokerUrl, conf.brokerTransportOptions);
  try {
    await connectWithRetry(b, {
      url: conf.brokerUrl,
      retryOnStartup: conf.brokerConnectionRetryOnStartup,
      maxRetries: conf.brokerConnectionMaxRetries,
      logger: options.logger ?? clientLogger,
      signal: options.signal,
    });
  } catch (err) {
    await b.close().catch(() => {});
    throw err;
  }
  return b;
}

/** `oid` is the app's: the rpc:// backend's reply queue. */
export async function openBackend(conf: Readonly<Settings>, oid: string): Promise<ResultBackend> {
  let url = conf.resultBackend;
  if (!url) {
    const scheme = conf.brokerUrl.split(':')[0] ?? '';
    if (!backendSchemes().includes(scheme)) {
      throw new ConfigError(
        `No result backend is configured (set "backend", e.g. rpc:// or redis://); the ${scheme}:// broker cannot store results`,
      );
    }
    url = conf.brokerUrl;
  }
  const b = await createBackend(url, {
    ...conf.resultBackendTransportOptions,
    brokerUrl: conf.brokerUrl,
    oid,
  });
  await b.connect();
  return b;
}
