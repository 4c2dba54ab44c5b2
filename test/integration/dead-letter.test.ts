/**
 * The dead-letter tooling (issue 17): Broker.browse on sqlite, redis and amqp (peek in order without
 * consuming, remove chosen ones), `requeue` back to the origin queue with the dead-letter headers
 * stripped, and the `celeriac dead-letter` commands end to end on the embedded SQLite broker.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/brokers/broker.js';
import { createBroker } from '../../src/brokers/registry.js';
import { listDeadLetters, requeueDeadLetters } from '../../src/cli/dead-letter.js';
import { Celeriac } from '../../src/index.js';
import { DEAD_HEADERS } from '../../src/middleware/dead-letter.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { createLogger } from '../../src/util/log.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { skipUnless, uniq, waitUntil } from '../helpers/services.js';

const skipRabbit = await skipUnless(5672);
const root = mkdtempSync(join(tmpdir(), 'celeriac-dl-'));
const redisPrefix = `${uniq('dl')}:`;
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  if (!skipRedis) await deletePrefix(redisPrefix, 7);
});

function dead(id: string, from: string, extra: Record<string, unknown> = {}): WireMessage {
  return {
    body: Buffer.from(JSON.stringify([[id], {}, {}])),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {
      id,
      task: 'tasks.nope',
      [DEAD_HEADERS.reason]: `reason of ${id}`,
      [DEAD_HEADERS.fromQueue]: from,
      [DEAD_HEADERS.at]: '2026-12-01T12:00:00.000Z',
      [DEAD_HEADERS.id]: `dead-${id}`,
      ...extra,
    },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 },
  };
}

const brokers: Array<[string, boolean, () => string]> = [
  ['sqlite', false, () => `sqlite://${join(root, 'browse.db')}`],
  ['redis', skipRedis, () => `redis://127.0.0.1:6379/7?global_keyprefix=${encodeURIComponent(redisPrefix)}`],
  ['amqp', skipRabbit, () => 'amqp://guest:guest@127.0.0.1:5672//'],
];

describe.each(brokers)('dead letters on %s', (_name, skip, url) => {
  it.skipIf(skip)(
    'list peeks in order without consuming; requeue strips the headers and removes only what it sent',
    async () => {
      const broker: Broker = await createBroker(url());
      await broker.connect();
      const dlq = uniq('dlq');
      const origin = uniq('origin');
      try {
        await broker.publishMany(['a', 'b', 'c'].map((id) => ({ queue: dlq, message: dead(id, origin) })));
        await broker.publish(dlq, dead('raw', origin, { [DEAD_HEADERS.undecodable]: true }));
        const listed = await listDeadLetters(broker, dlq, 100);
        expect(listed.map((d) => [d.id, d.task, d.reason, d.at, d.fromQueue])).toEqual([
          ['a', 'tasks.nope', 'reason of a', '2026-12-01T12:00:00.000Z', origin],
          ['b', 'tasks.nope', 'reason of b', '2026-12-01T12:00:00.000Z', origin],
          ['c', 'tasks.nope', 'reason of c', '2026-12-01T12:00:00.000Z', origin],
          ['raw', 'tasks.nope', 'reason of raw', '2026-12-01T12:00:00.000Z', origin],
        ]);
        // Listing again sees the same: nothing was consumed.
        expect((await listDeadLetters(broker, dlq, 2)).map((d) => d.id)).toEqual(['a', 'b']);
        await waitUntil(async () => (await broker.size(dlq)) === 4, 5000, 'all back in the queue');

        const one = await requeueDeadLetters(broker, dlq, 'dead-b');
        expect(one.requeued.map((d) => d.id)).toEqual(['b']);
        const snap = await broker.browse?.(origin, 10);
        expect(snap?.messages.length).toBe(1);
        const back = snap?.messages[0];
        await snap?.close();
        expect(back?.headers.id).toBe('b');
        for (const h of Object.values(DEAD_HEADERS)) expect(back?.headers).not.toHaveProperty(h);
        expect(back?.body.toString()).toBe('[["b"],{},{}]');

        const all = await requeueDeadLetters(broker, dlq, null);
        expect(all.requeued.map((d) => d.id)).toEqual(['a', 'c']);
        expect(all.skipped.map((s) => [s.letter.id, s.why])).toEqual([
          ['raw', expect.stringMatching(/could not be decoded/)],
        ]);
        await waitUntil(async () => (await broker.size(dlq)) === 1, 5000, 'the undecodable one stays');
        await waitUntil(async () => (await broker.size(origin)) === 3, 5000, 'three back at the origin');
      } finally {
        await broker.purge(dlq).catch(() => 0);
        await broker.purge(origin).catch(() => 0);
        await broker.close();
      }
    },
  );
});

const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
function cli(args: string[], db: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, CELERIAC_BROKER_URL: `sqlite://${db}`, CELERIAC_RESULT_BACKEND: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('celeriac dead-letter (sqlite)', () => {
  it('list, show, requeue <id>, requeue --all and purge', async () => {
    const db = join(root, 'cli.db');
    const app = new Celeriac({ broker: `sqlite://${db}` });
    const seen: number[] = [];
    app.task('tasks.later', (n: number) => {
      seen.push(n);
      return n;
    });
    // A worker that does not know tasks.later yet: both messages are dead-lettered (NotRegistered).
    const early = new Celeriac({ broker: `sqlite://${db}` });
    const w1 = early.worker({ logger: createLogger('error', () => {}), pool: 'async' });
    await w1.start();
    const r1 = await early.sendTask('tasks.later', [1]);
    const r2 = await early.sendTask('tasks.later', [2]);
    const broker = await early.broker();
    await waitUntil(
      async () => (await broker.size('celeriac.dead-letter')) === 2,
      10_000,
      'two dead letters',
    );
    await w1.stop();
    await early.close();

    const list = await cli(['dead-letter', 'list'], db);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+TASK\s+DEAD AT\s+FROM\s+REASON/);
    expect(list.stdout).toContain(r1.id);
    expect(list.stdout).toMatch(
      new RegExp(`${r2.id}\\s+tasks\\.later\\s+\\d{4}-\\d\\d-\\d\\dT[^ ]+\\s+celery\\s+tasks\\.later`),
    );
    const json = await cli(['dead-letter', 'list', '--json'], db);
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual([r1.id, r2.id]);
    const show = await cli(['dead-letter', 'show', r1.id], db);
    expect(JSON.parse(show.stdout)).toMatchObject({
      id: r1.id,
      task: 'tasks.later',
      fromQueue: 'celery',
      bodyEncoding: 'utf-8',
      headers: { id: r1.id, [DEAD_HEADERS.reason]: 'tasks.later' },
    });
    expect(await cli(['dead-letter', 'show', 'nope'], db)).toMatchObject({
      code: 1,
      stderr: 'Error: no dead letter with id nope in celeriac.dead-letter\n',
    });
    expect(await cli(['dead-letter', 'requeue'], db)).toMatchObject({ code: 2 });

    // Fixed: a worker that knows the task. Requeued messages run.
    const w2 = app.worker({ logger: createLogger('error', () => {}), pool: 'async' });
    await w2.start();
    try {
      expect(await cli(['dead-letter', 'requeue', r1.id], db)).toMatchObject({
        code: 0,
        stdout: 'Requeued 1 message.\n',
      });
      await waitUntil(() => seen.includes(1), 10_000, 'the first runs');
      expect(await cli(['dead-letter', 'requeue', '--all'], db)).toMatchObject({
        code: 0,
        stdout: 'Requeued 1 message.\n',
      });
      await waitUntil(() => seen.includes(2), 10_000, 'the second runs');
      expect(seen).toEqual([1, 2]);
      expect((await cli(['dead-letter', 'list'], db)).stdout).toBe(
        'No dead letters in celeriac.dead-letter.\n',
      );
      const b = await app.broker();
      await b.publish('celeriac.dead-letter', dead('x', 'celery'));
      expect(await cli(['dead-letter', 'purge'], db)).toMatchObject({ code: 2 });
      expect(await cli(['dead-letter', 'purge', '-f'], db)).toMatchObject({
        code: 0,
        stdout: 'Purged 1 dead letter from celeriac.dead-letter.\n',
      });
    } finally {
      await w2.stop();
      await app.close();
    }
  }, 60_000);
});
