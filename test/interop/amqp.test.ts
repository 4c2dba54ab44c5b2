/**
 * Interop with Python Celery 5.2 (Debian's, run with /usr/bin/python3) over RabbitMQ, results over rpc://,
 * in both directions: a Python client calling a Celeriac worker, and a Celeriac client calling Python
 * workers (-P eventlet and -P prefork); and AMQP header tables between amqplib and py-amqp. Python side:
 * test/interop/py/amqp_app.py, amqp_client.py, amqp_wire.py.
 * Each run uses a private vhost. Skips locally without RabbitMQ or Python Celery; fails in CI.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpBroker } from '../../src/brokers/amqp/index.js';
import type { Delivery } from '../../src/brokers/broker.js';
import { Celeriac, currentTask, TaskError } from '../../src/index.js';
import { appInternals } from '../../src/task/publisher.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { inCI, portOpen, uniq, waitUntil } from '../helpers/services.js';

const PYTHON = '/usr/bin/python3';
const PY_DIR = fileURLToPath(new URL('./py/', import.meta.url));

const pythonCelery = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import celery, eventlet'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = !inCI && (!pythonCelery || !(await portOpen(RABBIT_PORT)));

const brokerUrl = usePrivateVhost(skip);

/** A Python process in test/interop/py with the broker in its environment; stdout split into lines. */
function python(args: string[], env: Record<string, string> = {}) {
  const proc = spawn(PYTHON, args, {
    cwd: PY_DIR,
    env: { ...process.env, INTEROP_BROKER: brokerUrl(), PYTHONUNBUFFERED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  let err = '';
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    out.push(...lines);
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const exited = new Promise<number>((resolve) => proc.on('exit', (code) => resolve(code ?? -1)));
  return {
    proc,
    out,
    stderr: () => err,
    async done(): Promise<string[]> {
      const code = await exited;
      if (buf) out.push(buf);
      if (code !== 0) throw new Error(`python ${args.join(' ')} exited ${code}:\n${err.slice(-3000)}`);
      return out;
    },
  };
}

/** A Celery 5.2 worker on `queue`; resolves once it logged "ready". */
async function pythonWorker(pool: string, queue: string, concurrency: number) {
  const p = python(
    [
      '-m',
      'celery',
      '-A',
      'amqp_app',
      'worker',
      '-P',
      pool,
      '-c',
      String(concurrency),
      '-Q',
      queue,
      '-n',
      `${uniq('py')}@%h`,
      '--without-gossip',
      '--without-mingle',
      '--without-heartbeat',
      '-l',
      'info',
    ],
    { INTEROP_QUEUE: queue },
  );
  await waitUntil(() => /ready\./.test(p.stderr()) || p.proc.exitCode !== null, 60_000, `celery -P ${pool}`);
  if (p.proc.exitCode !== null) throw new Error(`celery worker exited:\n${p.stderr().slice(-3000)}`);
  return {
    async stop() {
      await stopProcess(p.proc);
    },
  };
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const ECHO_ARGS = [1, 'héllo wörld ✓ 🎉', null, [1, 2.5]];
const ECHO_KWARGS = { x: { a: [1, null] }, ü: 'ñ' };
const BIG = 'x'.repeat(1024 * 1024);

/** The Celeriac side of the tasks in amqp_app.py. */
function defineTasks(app: Celeriac, order: { seq: number }) {
  app.task('interop.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
  app.task('interop.echo', () => ({ args: currentTask().args, kwargs: currentTask().kwargs }));
  app.task('interop.fail', (msg: string) => {
    throw new TypeError(msg);
  });
  class KaputError extends Error {
    override name = 'KaputError';
  }
  app.task('interop.fail_custom', (msg: string) => {
    throw new KaputError(msg);
  });
  app.task('interop.flaky', () => {
    const t = currentTask();
    if (t.retries < 2) throw t.retry({ countdown: 1 });
    return t.retries;
  });
  app.task('interop.order', (p: number) => [p, ++order.seq]);
  app.task('interop.size', (s: string) => [s.length, sha256(s)]);
  app.task('interop.when', () => Date.now() / 1000);
}

const appSettings = (queue: string) => ({
  broker: brokerUrl(),
  brokerTransportOptions: { maxPriority: 10 },
  backend: 'rpc://',
  taskDefaultQueue: queue,
});

describe.skipIf(skip)(
  'interop over RabbitMQ: Python Celery 5.2 client → Celeriac worker (rpc:// results)',
  () => {
    const queue = uniq('py2ts');
    let app: Celeriac;
    const workers: Worker[] = [];
    const order = { seq: 0 };
    const startWorker = async (queues: string[], concurrency: number, prefetchMultiplier = 4) => {
      const w = app.worker({
        queues,
        concurrency,
        prefetchMultiplier,
        logger: createLogger('error', () => {}),
      });
      await w.start();
      workers.push(w);
      return w;
    };
    beforeAll(async () => {
      app = new Celeriac(appSettings(queue));
      defineTasks(app, order);
      await startWorker([queue], 20);
    }, 60_000);
    afterAll(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await app?.close();
    }, 60_000);

    it('runs args, kwargs, unicode, 1 MiB, errors, retries, countdown, expiry and unknown tasks', async () => {
      const lines = await python(['amqp_client.py', 'basic'], { INTEROP_QUEUE: queue }).done();
      const r = JSON.parse(lines.at(-1) as string);
      expect(r.add).toBe(5);
      expect(r.kwargs).toBe(10);
      expect(r.echo).toEqual({ args: ECHO_ARGS, kwargs: ECHO_KWARGS });
      expect(r.size).toEqual(r.size_expected);
      // A JavaScript TypeError is Python's builtins.TypeError; the JS stack travels as the traceback.
      expect(r.fail).toMatchObject({
        type: 'TypeError',
        module: 'builtins',
        args: ['boom'],
        state: 'FAILURE',
      });
      expect(r.fail.traceback).toMatch(/TypeError: boom/);
      // A class Python cannot import becomes a synthetic exception class in celery.exceptions.
      expect(r.fail_custom).toMatchObject({
        type: 'KaputError',
        module: 'celery.exceptions',
        args: ['kaput'],
        is_exception: true,
      });
      expect(r.flaky).toBe(2);
      expect(r.countdown).toBeGreaterThanOrEqual(1.99);
      expect(r.expired).toMatchObject({ type: 'TaskRevokedError', state: 'REVOKED' });
      expect(r.unknown).toMatchObject({
        type: 'NotRegistered',
        module: 'celery.exceptions',
        args: ['interop.nope'],
        state: 'FAILURE',
      });
    }, 120_000);

    it('serves higher priorities first (x-max-priority 10 on both sides)', async () => {
      const prio = uniq('py2ts-prio');
      const client = python(['amqp_client.py', 'priorities', prio], { INTEROP_QUEUE: queue });
      await waitUntil(() => client.out.includes('SENT') || client.proc.exitCode !== null, 30_000, 'SENT');
      await startWorker([prio], 1, 1);
      const lines = await client.done();
      const results = JSON.parse(lines.at(-1) as string) as Array<[number, number]>;
      expect(results.sort((a, b) => a[1] - b[1]).map((x) => x[0])).toEqual([9, 7, 5, 1, 0]);
    }, 90_000);
  },
);

describe.skipIf(skip).each(['eventlet', 'prefork'])(
  'interop over RabbitMQ: Celeriac client → Python Celery 5.2 worker -P %s (rpc:// results)',
  (pool) => {
    const queue = uniq(`ts2py-${pool}`);
    let app: Celeriac;
    let worker: Awaited<ReturnType<typeof pythonWorker>> | null = null;
    beforeAll(async () => {
      app = new Celeriac(appSettings(queue));
      worker = await pythonWorker(pool, queue, 4);
    }, 90_000);
    afterAll(async () => {
      await worker?.stop();
      await app?.close();
    }, 60_000);

    const call = async (name: string, args: unknown[] = [], kwargs = {}, options = {}) =>
      (await app.sendTask(name, args, kwargs, options)).get({ timeout: 30 });
    const failure = async (name: string, args: unknown[] = [], options = {}) => {
      const err = await call(name, args, {}, options).then(
        (v) => new Error(`expected a failure, got ${JSON.stringify(v)}`),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TaskError);
      return err as TaskError;
    };

    it('passes args, kwargs, unicode and a 1 MiB payload', async () => {
      const [add, kw, echo, size] = await Promise.all([
        call('interop.add', [2, 3]),
        call('interop.add', [], { x: 4, y: 6 }),
        call('interop.echo', ECHO_ARGS, ECHO_KWARGS),
        call('interop.size', [BIG]),
      ]);
      expect(add).toBe(5);
      expect(kw).toBe(10);
      expect(echo).toEqual({ args: ECHO_ARGS, kwargs: ECHO_KWARGS });
      expect(size).toEqual([BIG.length, sha256(BIG)]);
    }, 60_000);

    it('re-raises a Python exception with its type, message and traceback', async () => {
      const err = await failure('interop.fail', ['boom']);
      expect(err.excType).toBe('ValueError');
      expect(err.excModule).toBe('builtins');
      expect(err.excMessage).toEqual(['boom']);
      expect(err.traceback).toMatch(/Traceback[\s\S]*ValueError: boom/);
    }, 60_000);

    it('follows retries, countdown, expiry (REVOKED) and unknown tasks (NotRegistered)', async () => {
      const t0 = Date.now() / 1000;
      const [retries, when, expired, unknown] = await Promise.all([
        call('interop.flaky'),
        call('interop.when', [], {}, { countdown: 2 }),
        failure('interop.add', [1, 1], { countdown: 2, expires: 1 }),
        failure('interop.nope', [1]),
      ]);
      expect(retries).toBe(2);
      expect(when as number).toBeGreaterThanOrEqual(t0 + 1.99);
      expect(expired.excType).toBe('TaskRevokedError');
      expect(unknown.excType).toBe('NotRegistered');
      expect(unknown.excModule).toBe('celery.exceptions');
    }, 60_000);

    it('runs a task that waited in the delay queues (publishDelayed, x-death headers and all)', async () => {
      const eta = new Date(Date.now() + 2000);
      const { id, message } = appInternals(app).buildMessage('interop.when', [], { eta });
      const broker = (await app.broker()) as AmqpBroker;
      await app.backend(); // the reply queue exists before the worker answers
      await broker.publishDelayed(queue, message, eta);
      const ranAt = (await app.AsyncResult(id).get({ timeout: 30 })) as number;
      expect(ranAt * 1000).toBeGreaterThanOrEqual(eta.getTime() - 10);
    }, 60_000);

    it('serves higher priorities first (x-max-priority 10 on both sides)', async () => {
      const prio = uniq(`ts2py-prio-${pool}`);
      const results = await Promise.all(
        [1, 9, 5, 0, 7].map((p) => app.sendTask('interop.order', [p], {}, { queue: prio, priority: p })),
      );
      const w = await pythonWorker(pool, prio, 1);
      try {
        const got = (await Promise.all(results.map((r) => r.get({ timeout: 60 })))) as Array<
          [number, number]
        >;
        expect(got.sort((a, b) => a[1] - b[1]).map((x) => x[0])).toEqual([9, 7, 5, 1, 0]);
      } finally {
        await w.stop();
      }
    }, 120_000);
  },
);

describe.skipIf(skip)('interop over RabbitMQ: header tables between amqplib and py-amqp', () => {
  let broker: AmqpBroker;
  beforeAll(async () => {
    broker = new AmqpBroker(new URL(brokerUrl()), {});
    await broker.connect();
  }, 30_000);
  afterAll(async () => {
    await broker?.close();
  });

  it('sends headers that py-amqp reads back with the same values and Python types', async () => {
    const q = uniq('wire-out');
    const headers = {
      retries: 200,
      group_index: -1,
      timelimit: [300, null],
      big: 2 ** 40,
      ratio: 1.5,
      nested: { a: [1, 'x', null] },
      ignore_result: false,
      text: 'ünï ✓',
    };
    await broker.publish(q, {
      body: Buffer.from('{}'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers,
      properties: { priority: 0 },
    });
    const [line] = await python(['amqp_wire.py', 'read', q]).done();
    const got = JSON.parse(line as string);
    expect(got.headers).toEqual(headers);
    expect(got.types).toEqual({
      retries: 'int',
      group_index: 'int',
      timelimit: ['int', 'NoneType'],
      big: 'int',
      ratio: 'float',
      nested: { a: ['int', 'str', 'NoneType'] },
      ignore_result: 'bool',
      text: 'str',
    });
  }, 30_000);

  it("reads py-amqp's 64-bit integers (tag L) without losing the connection", async () => {
    const q = uniq('wire-in');
    await broker.declareQueue(q);
    const [line] = await python(['amqp_wire.py', 'publish', q]).done();
    const got: Delivery[] = [];
    await broker.consume([q], (d) => got.push(d), { prefetch: 1 });
    await waitUntil(() => got.length === 1, 10_000, 'the py-amqp message');
    expect(got[0]?.message.headers).toEqual(JSON.parse(line as string));
    await got[0]?.ack();
    expect(broker.link.generation).toBe(1);
  }, 30_000);
});
