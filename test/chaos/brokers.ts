/**
 * The three real brokers of the chaos suite, each isolated: SQLite in a temp file, Redis on the shared
 * server under a unique key prefix, RabbitMQ in a private vhost. Short visibility timeouts, so a killed
 * worker's messages come back within seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateVhost } from '../helpers/rabbit.js';
import { deletePrefix } from '../helpers/redis.js';
import { portOpen, uniq } from '../helpers/services.js';

export type BrokerName = 'sqlite' | 'redis' | 'amqp';
export const BROKERS: readonly BrokerName[] = ['sqlite', 'redis', 'amqp'];

export interface ChaosBroker {
  name: BrokerName;
  url: string;
  /** Seconds before a dead worker's unacked messages are given back (0: at once, AMQP). */
  visibility: number;
  dispose(): Promise<void>;
}

export async function available(name: BrokerName): Promise<boolean> {
  if (name === 'sqlite') return true;
  return portOpen(name === 'redis' ? 6379 : 5672);
}

export async function chaosBroker(name: BrokerName, visibility = 4): Promise<ChaosBroker> {
  if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-chaos-'));
    return {
      name,
      url: `sqlite://${join(dir, 'chaos.db')}?visibility_timeout=${visibility}`,
      visibility,
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (name === 'redis') {
    const prefix = `${uniq('chaosq')}:`;
    return {
      name,
      // A worker killed while it holds the restore mutex blocks restores for unacked_mutex_expire (kombu:
      // 300 s); short here so a kill loop recovers within the case.
      url: `redis://127.0.0.1:6379/0?global_keyprefix=${encodeURIComponent(prefix)}&visibility_timeout=${visibility}&unacked_mutex_expire=10`,
      visibility,
      dispose: () => deletePrefix(prefix),
    };
  }
  const v = await privateVhost();
  return { name, url: v.url, visibility: 0, dispose: () => v.drop() };
}
