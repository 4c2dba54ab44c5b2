/**
 * get() right after delay() (src/task/wait-ahead.ts), on the memory, Redis, SQLite and rpc:// result backends:
 * the result comes back whether it is stored after the wait started or before it (a result already there
 * is read after subscribing); a client that waited once waits ahead, one that never waits subscribes to
 * nothing; an unclaimed wait ahead is cancelled one turn after its publish. The "worker" is a second
 * backend instance, as another process would be, storing the result when the test says.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResultBackend } from '../../src/backends/backend.js';
import type { RedisBackend } from '../../src/backends/redis/index.js';
import { createBackend } from '../../src/backends/registry.js';
import { ResultTimeoutError } from '../../src/errors.js';
import { Celeriac } from '../../src/index.js';
import { buildMeta } from '../../src/protocol/result.js';
import { RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { skipUnless, uniq, waitUntil } from '../helpers/services.js';

const skipRabbit = await skipUnless(RABBIT_PORT);
const vhostUrl = usePrivateVhost(skipRabbit);
const dir = mkdtempSync(join(tmpdir(), 'celeriac-wait-ahead-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Setup {
  client: Celeriac;
  /** Stores a task's result as a worker would (for rpc://: to the client's reply queue). */
  store(id: string, value: unknown): Promise<void>;
  /** Resolves once the client hears of `id` (Redis: subscribed); at once where it cannot be seen. */
  listening(id: string): Promise<void>;
  /** Task ids the client's backend waits for, where it can be seen (Redis). */
  waiting?(): number;
  cleanup(): Promise<void>;
}

const next = () => new Promise<void>((r) => setImmediate(r));

function scenarios(name: string, skip: boolean, setup: () => Promise<Setup>) {
  describe.skipIf(skip)(`get() right after delay(): ${name}`, () => {
    it('returns the result stored after the wait started, first and when waiting ahead', async () => {
      const s = await setup();
      const t = s.client.task('ahead.add', (a: number) => a + 1);
      try {
        for (let i = 0; i < 3; i++) {
          const r = await t.delay(i);
          const got = r.get({ timeout: 20 });
          await s.listening(r.id);
          await s.store(r.id, i + 1);
          expect(await got).toBe(i + 1);
        }
      } finally {
        await s.cleanup();
      }
    });

    it('returns a result that was stored before the wait started', async () => {
      const s = await setup();
      const t = s.client.task('ahead.early', () => 'early');
      try {
        // Once without a wait ahead (the first get() of this client), then with one.
        for (let i = 0; i < 2; i++) {
          const taskId = uniq('early');
          await s.store(taskId, `done-${i}`);
          const r = await t.applyAsync([], { taskId });
          expect(await r.get({ timeout: 20 })).toBe(`done-${i}`);
        }
      } finally {
        await s.cleanup();
      }
    });

    it('times out a wait ahead that gets no result, and leaves nothing waiting', async () => {
      const s = await setup();
      const t = s.client.task('ahead.never', () => null);
      try {
        const first = await t.delay();
        const warm = first.get({ timeout: 20 });
        await s.listening(first.id);
        await s.store(first.id, null);
        await warm;
        const r = await t.delay(); // waited ahead: the client waited before
        await expect(r.get({ timeout: 0.05 })).rejects.toBeInstanceOf(ResultTimeoutError);
        if (s.waiting) expect(s.waiting()).toBe(0);
      } finally {
        await s.cleanup();
      }
    });
  });
}

function redisSetup(): () => Promise<Setup> {
  return async () => {
    const prefix = `${uniq('ahead')}:`;
    const url = 'redis://127.0.0.1:6379/0';
    const client = new Celeriac({
      broker: `memory://${uniq('ahead')}`,
      backend: url,
      resultBackendTransportOptions: { globalKeyprefix: prefix },
    });
    const worker = await createBackend(url, { globalKeyprefix: prefix });
    await worker.connect();
    const backend = (await client.backend()) as RedisBackend;
    return {
      client,
      store: (id, value) => worker.store(buildMeta(id, 'SUCCESS', value, null, new Date()), { expires: 60 }),
      listening: () => waitUntil(() => backend.subscriptions > 0, 10_000, 'the subscription'),
      waiting: () => backend.waiting,
      cleanup: async () => {
        await Promise.all([client.close(), worker.close()]);
        await deletePrefix(prefix);
      },
    };
  };
}

/** The in-process backend: a second backend of the same name is the worker. */
function memorySetup(): () => Promise<Setup> {
  return async () => {
    const url = `memory://${uniq('ahead')}`;
    const client = new Celeriac({ broker: url, backend: url });
    const worker = await createBackend(url);
    await worker.connect();
    return {
      client,
      store: (id, value) => worker.store(buildMeta(id, 'SUCCESS', value, null, new Date()), { expires: 60 }),
      listening: async () => {},
      cleanup: async () => {
        await Promise.all([client.close(), worker.close()]);
      },
    };
  };
}

let dbs = 0;
function sqliteSetup(): () => Promise<Setup> {
  return async () => {
    const url = `sqlite://${join(dir, `results-${++dbs}.db`)}`;
    const client = new Celeriac({ broker: `memory://${uniq('ahead')}`, backend: url });
    await client.backend();
    const worker = await createBackend(url);
    await worker.connect();
    return {
      client,
      store: (id, value) => worker.store(buildMeta(id, 'SUCCESS', value, null, new Date()), { expires: 60 }),
      listening: async () => {},
      cleanup: async () => {
        await Promise.all([client.close(), worker.close()]);
      },
    };
  };
}

function rpcSetup(): () => Promise<Setup> {
  return async () => {
    const brokerUrl = vhostUrl();
    const client = new Celeriac({ broker: brokerUrl, backend: 'rpc://' });
    await client.backend(); // declares the reply queue: a result sent before it exists is dropped by RabbitMQ
    const worker: ResultBackend = await createBackend('rpc://', { brokerUrl, oid: uniq('worker') });
    await worker.connect();
    return {
      client,
      store: (id, value) =>
        worker.store(
          buildMeta(id, 'SUCCESS', value, null, new Date()),
          { expires: 60 },
          { replyTo: client.oid, correlationId: id },
        ),
      listening: async () => {},
      cleanup: async () => {
        const broker = await client.broker();
        await broker.purge('celery').catch(() => {});
        await Promise.all([client.close(), worker.close()]);
      },
    };
  };
}

scenarios('memory', false, memorySetup());
scenarios('redis', skipRedis, redisSetup());
scenarios('sqlite', false, sqliteSetup());
scenarios('rpc', skipRabbit, rpcSetup());

describe.skipIf(skipRedis)('waiting ahead on Redis', () => {
  it('subscribes to nothing for a client that never waits, and stops once results go unclaimed', async () => {
    const s = await redisSetup()();
    const t = s.client.task('ahead.fire', () => null);
    const backend = (await s.client.backend()) as RedisBackend;
    try {
      for (let i = 0; i < 3; i++) {
        await t.delay(); // fire and forget: no wait is started, nothing subscribed
        expect(backend.waiting).toBe(0);
      }
      const r = await t.delay();
      const got = r.get({ timeout: 20 });
      await s.listening(r.id);
      await s.store(r.id, 'x');
      await got;
      // It waited once: the next publish starts its wait before resolving …
      const ahead = await t.delay();
      expect(backend.waiting).toBe(1);
      // … which nobody claims this turn, so it is cancelled and the client stops waiting ahead.
      await next();
      await next();
      expect(backend.waiting).toBe(0);
      await t.delay();
      expect(backend.waiting).toBe(0);
      await waitUntil(() => backend.subscriptions === 0, 10_000, 'every channel unsubscribed');
      // A late get() on the cancelled one still works (a plain wait), and turns waiting ahead on again.
      const late = ahead.get({ timeout: 20 });
      await s.listening(ahead.id);
      await s.store(ahead.id, 'late');
      expect(await late).toBe('late');
      await t.delay();
      expect(backend.waiting).toBe(1);
    } finally {
      await s.cleanup();
    }
  });
});
