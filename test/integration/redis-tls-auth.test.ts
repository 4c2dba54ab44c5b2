/**
 * rediss:// (TLS) and password URLs against private redis-servers started here: a self-signed
 * certificate made with openssl, and a server with `--requirepass`. Wrong credentials fail at connect
 * with a non-retryable error; a certificate we cannot verify fails unless `ssl_cert_reqs=none`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend } from '../../src/backends/redis/index.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { createRedisBroker } from '../../src/brokers/redis/index.js';
import { BrokerError } from '../../src/errors.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import { buildMeta } from '../../src/protocol/result.js';
import { PrivateRedis } from '../helpers/redis.js';
import { inCI, waitUntil } from '../helpers/services.js';

const have = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const available = have('redis-server', ['--version']) && have('openssl', ['version']);

const msg = () =>
  buildTaskMessage({
    id: 'tls-1',
    name: 't.n',
    args: [1],
    kwargs: {},
    origin: 'o',
    replyTo: 'r',
    now: new Date(),
  });

async function roundTrip(url: string): Promise<void> {
  const b = createRedisBroker(new URL(url));
  const backend = createRedisBackend(new URL(url));
  try {
    await b.connect();
    await backend.connect();
    await b.publish('tq', msg());
    const got: Delivery[] = [];
    await b.consume(['tq'], (d) => got.push(d), { prefetch: 1 });
    await waitUntil(() => got.length === 1, 10_000, 'delivery');
    await got[0]?.ack();
    await backend.store(buildMeta('tls-1', 'SUCCESS', 'ok', null, new Date()), { expires: 60 });
    expect((await backend.waitFor('tls-1', { timeoutMs: 5000 }))?.result).toBe('ok');
  } finally {
    await b.close();
    await backend.close();
  }
}

async function connectError(url: string): Promise<BrokerError> {
  const b = createRedisBroker(new URL(url), { socketConnectTimeout: 3 });
  try {
    await b.connect();
  } catch (err) {
    return err as BrokerError;
  } finally {
    await b.close().catch(() => {});
  }
  throw new Error(`connecting to ${url} should have failed`);
}

describe.skipIf(!available && !inCI)('redis TLS and authentication (private servers)', () => {
  let dir: string;
  let tls: PrivateRedis;
  let auth: PrivateRedis;
  let cert: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'celeriac-tls-'));
    cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
    tls = await PrivateRedis.start({ tls: { cert, key } });
    auth = await PrivateRedis.start({ args: ['--requirepass', 's3cr3t/é'] });
  });
  afterAll(async () => {
    await tls?.dispose();
    await auth?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('works over rediss:// verifying the server with ssl_ca_certs', async () => {
    await roundTrip(`rediss://127.0.0.1:${tls.port}/1?ssl_ca_certs=${encodeURIComponent(cert)}`);
  });

  it('accepts an unverifiable certificate only with ssl_cert_reqs=none', async () => {
    await roundTrip(`rediss://127.0.0.1:${tls.port}/0?ssl_cert_reqs=none`);
    const err = await connectError(`rediss://127.0.0.1:${tls.port}/0`);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err.message).toMatch(/self.signed|certificate/i);
  });

  it('authenticates with the URL password (percent-encoded) and selects the db', async () => {
    const password = 's3cr3t/é';
    await roundTrip(`redis://:${encodeURIComponent(password)}@127.0.0.1:${auth.port}/2`);
    // Read back with clients of our own, one per db: what the broker and backend wrote is in db 2 only.
    const inDb = async (db: number) => {
      const c = new Redis({ host: '127.0.0.1', port: auth.port, password, db, maxRetriesPerRequest: 1 });
      try {
        return (await c.keys('*')).sort();
      } finally {
        c.disconnect();
      }
    };
    expect(await inDb(2)).toEqual(expect.arrayContaining(['_kombu.binding.tq', 'celery-task-meta-tls-1']));
    expect(await inDb(0)).toEqual([]);
  });

  it('fails at connect with a non-retryable error on a wrong password', async () => {
    const err = await connectError(`redis://:wrong@127.0.0.1:${auth.port}/0`);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err.message).toMatch(/WRONGPASS|invalid password/i);
    expect(err.retryable).toBe(false);
  });
});
