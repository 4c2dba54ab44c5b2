/**
 * The bad-input policy: every unusable message is logged with the task id and the reason, gets a
 * FAILURE result when its id is known, moves to the dead-letter queue with the reason, and the worker
 * keeps serving.
 */
import { deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/brokers/broker.js';
import { DEAD_HEADERS } from '../../src/middleware/dead-letter.js';
import type { WireMessage } from '../../src/protocol/message.js';
import { currentTask } from '../../src/task/context.js';
import { CORPUS_TASKS, messageCases, SIZE_LIMIT } from '../chaos/corpus.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { uniq, waitUntil } from '../helpers/services.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

const DLQ = 'celeriac.dead-letter';

function raw(id: string | null, body: string | Buffer, extra: Partial<WireMessage> = {}): WireMessage {
  return {
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: id ? { lang: 'py', task: 'tasks.echo', id, retries: 0, timelimit: [null, null] } : {},
    properties: { correlation_id: id ?? 'x', reply_to: 'r', delivery_mode: 2, priority: 0 },
    ...extra,
  };
}

async function setup(settings = {}) {
  t = memoryApp(settings);
  const echo = t.app.task('tasks.echo', (x: unknown) => x);
  await t.startWorker();
  const broker = await t.app.broker();
  return { echo, broker };
}

async function deadLetters(t: TestApp, n: number): Promise<Delivery[]> {
  const broker = await t.app.broker();
  const got: Delivery[] = [];
  const c = await broker.consume([DLQ], (d) => got.push(d), { prefetch: 0 });
  await waitUntil(() => got.length >= n, 5000, `${n} dead letters`);
  await c.cancel();
  return got;
}

async function stillServing(echo: { delay(x: unknown): Promise<{ get(o: object): Promise<unknown> }> }) {
  expect(await (await echo.delay('alive')).get({ timeout: 5 })).toBe('alive');
}

describe('bad input', () => {
  it('an undecodable body: FAILURE under its id, dead-lettered with the reason', async () => {
    const { echo, broker } = await setup();
    await broker.publish('celery', raw('bad-json', 'not json{'));
    const r = t.app.AsyncResult('bad-json');
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'ProtocolError' });
    const [dl] = await deadLetters(t, 1);
    expect(dl?.message.headers['x-celeriac-dead-reason']).toMatch(/cannot decode application\/json body/);
    expect(dl?.message.headers['x-celeriac-from-queue']).toBe('celery');
    expect(t.logs.some((l) => l.includes('[bad-json] rejected: cannot decode message'))).toBe(true);
    await stillServing(echo);
  });

  it('a message that is neither protocol v1 nor v2: logged and dead-lettered', async () => {
    const { echo, broker } = await setup();
    await broker.publish('celery', raw(null, JSON.stringify({ hello: 'world' })));
    const [dl] = await deadLetters(t, 1);
    expect(dl?.message.headers['x-celeriac-dead-reason']).toMatch(/neither protocol v2.*nor v1/);
    await stillServing(echo);
  });

  it('an unknown task name: FAILURE with NotRegistered as Celery stores it', async () => {
    const { echo } = await setup();
    const r = await t.app.sendTask('tasks.nope', [1]);
    const err = await r.get({ timeout: 5 }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      excType: 'NotRegistered',
      excModule: 'celery.exceptions',
      excMessage: ['tasks.nope'],
    });
    expect(t.logs.some((l) => l.includes("Received unregistered task of type 'tasks.nope'"))).toBe(true);
    expect((await deadLetters(t, 1))[0]?.message.headers.task).toBe('tasks.nope');
    await stillServing(echo);
  });

  it('a payload over the size limit: FAILURE with MessageTooLarge', async () => {
    const { echo } = await setup({ workerMessageSizeLimit: 2000 });
    const r = await echo.delay('x'.repeat(5000));
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'MessageTooLarge' });
    expect((await deadLetters(t, 1))[0]?.message.headers['x-celeriac-dead-reason']).toMatch(
      /over the limit of 2000 bytes/,
    );
    await stillServing(echo);
  });

  it('a compressed payload that inflates past the size limit: FAILURE with MessageTooLarge, never inflated whole', async () => {
    // 2 MB of one letter deflates to about 2 KB: small on the wire, a zip bomb for a worker allowing 1 MB.
    const { echo } = await setup({ workerMessageSizeLimit: 1_000_000 });
    const r = await echo.applyAsync(['a'.repeat(2_000_000)], { compression: 'zlib' });
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'MessageTooLarge' });
    expect((await deadLetters(t, 1))[0]?.message.headers['x-celeriac-dead-reason']).toBe(
      'compressed message body inflates to more than the limit of 1000000 bytes',
    );
    expect(t.logs.some((l) => l.includes(`[${r.id}] rejected: compressed message body inflates`))).toBe(true);
    await stillServing(echo);
  });

  it('a content type off the accept-list (pickle) is never decoded', async () => {
    const { echo, broker } = await setup();
    await broker.publish(
      'celery',
      raw('pickled', Buffer.from([0x80, 0x04, 0x95]), {
        contentType: 'application/x-python-serialize',
        contentEncoding: 'binary',
      }),
    );
    await expect(t.app.AsyncResult('pickled').get({ timeout: 5 })).rejects.toMatchObject({
      excType: 'ContentDisallowed',
      excModule: 'kombu.exceptions',
    });
    await stillServing(echo);
  });

  it('wrong argument counts fail the task with TypeError and the worker goes on', async () => {
    t = memoryApp();
    const two = t.app.task('tasks.two', (a: number, b: number) => a + b, { params: ['a', 'b'] });
    await t.startWorker();
    await expect((await t.app.sendTask('tasks.two', [1, 2, 3])).get({ timeout: 5 })).rejects.toMatchObject({
      excType: 'TypeError',
    });
    expect(await (await two.delay(1, 2)).get({ timeout: 5 })).toBe(3);
  });

  it('reads zlib-compressed and protocol v1 messages', async () => {
    const { broker } = await setup();
    const body = JSON.stringify([
      ['zipped'],
      {},
      { callbacks: null, errbacks: null, chain: null, chord: null },
    ]);
    const zipped = raw('zip-1', deflateSync(Buffer.from(body)));
    zipped.headers.compression = 'application/x-gzip';
    await broker.publish('celery', zipped);
    expect(await t.app.AsyncResult('zip-1').get({ timeout: 5 })).toBe('zipped');
    await broker.publish(
      'celery',
      raw(null, JSON.stringify({ task: 'tasks.echo', id: 'v1-1', args: ['old'], kwargs: {}, retries: 0 })),
    );
    expect(await t.app.AsyncResult('v1-1').get({ timeout: 5 })).toBe('old');
  });
});

describe('bad input: the corpus (test/chaos/corpus.ts), message-level cases', () => {
  it('every case is dead-lettered with a reason and failed, fails, or runs once, as the corpus says', async () => {
    t = memoryApp({ workerMessageSizeLimit: SIZE_LIMIT });
    const ran = new Map<string, number>();
    const count = <T>(v: T): T => {
      const id = currentTask().id;
      ran.set(id, (ran.get(id) ?? 0) + 1);
      return v;
    };
    t.app.task(CORPUS_TASKS.ok, (n: number) => count(n), { params: ['n'] });
    t.app.task(CORPUS_TASKS.deep, (n: number) => count(JSON.parse(`${'['.repeat(n)}${']'.repeat(n)}`)), {
      params: ['n'],
    });
    await t.startWorker();
    const broker = await t.app.broker();
    const cases = messageCases(uniq('corpus'));
    for (const c of cases) await broker.publish('celery', c.message);
    const rejected = cases.filter((c) => c.expect === 'rejected');
    const dead = await deadLetters(t, rejected.length);
    for (const d of dead) {
      expect(d.message.headers[DEAD_HEADERS.reason]).toEqual(expect.any(String));
      expect(Number.isNaN(Date.parse(String(d.message.headers[DEAD_HEADERS.at])))).toBe(false);
      expect(d.message.headers[DEAD_HEADERS.id]).toEqual(expect.any(String));
    }
    for (const c of cases) {
      if (!c.id) continue;
      const r = t.app.AsyncResult(c.id);
      if (c.expect === 'runs') expect(await r.get({ timeout: 5 }), c.name).toBe(1);
      else await expect(r.get({ timeout: 5 }), c.name).rejects.toBeDefined();
    }
    expect(await broker.size(DLQ)).toBe(0); // deadLetters() took them all: no more came
    expect([...ran.values()].every((n) => n === 1)).toBe(true);
  });
});
