/**
 * Remote control with real Python Celery 5.2 (Debian, /usr/bin/python3), both ways, on Redis and on
 * RabbitMQ:
 *  - Python's `celery inspect` / `celery control` steer a Celeriac worker: the replies have Celery's
 *    shapes (ping, registered, active, stats, active_queues, revoke, rate_limit, enable_events, shutdown);
 *  - `celeriac inspect` / `control` / `status` / `revoke` steer a Python worker;
 *  - a Python worker started with mingle syncs the Celeriac worker's revoked ids.
 * Isolation: Redis DB 14 and a private RabbitMQ vhost; unique queues and node names. Skipped locally
 * when a service or Python Celery is missing; fails in CI.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { RABBIT_PORT, usePrivateVhost } from '../helpers/rabbit.js';
import { skipRedis } from '../helpers/redis.js';
import { inCI, portOpen, uniq, waitUntil } from '../helpers/services.js';
import { defineInteropTasks } from './celeriac-app.js';
import {
  PY_DIR,
  PYTHON,
  pythonCeleryAvailable,
  ROOT,
  startPythonWorker,
  type WorkerProcess,
} from './harness.js';

const REDIS_URL = 'redis://127.0.0.1:6379/14';
const rabbitDown = !(await portOpen(RABBIT_PORT));
const skipAll = !pythonCeleryAvailable && !inCI;
const amqpUrl = usePrivateVhost(skipAll || (rabbitDown && !inCI));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

const brokers = [
  { name: 'redis', skip: skipAll || (skipRedis && !inCI), url: () => REDIS_URL, backend: () => REDIS_URL },
  { name: 'amqp', skip: skipAll || (rabbitDown && !inCI), url: () => amqpUrl(), backend: () => 'rpc://' },
] as const;

describe.each(brokers)('remote control interop ($name)', (b) => {
  describe.skipIf(b.skip)('both ways', () => {
    const queue = uniq('ctl');
    const pyQueue = uniq('ctl-py');
    const tsNode = `${uniq('ts')}@interop`;
    const pyName = uniq('py');
    /** `<pyName>@<host>`: Celery expands %h itself; read back from a ping. */
    let pyNode = '';
    let app: Celeriac;
    let worker: Worker;
    let pyWorker: WorkerProcess;
    let env: Record<string, string>;
    const logs: string[] = [];

    /** Python's celery CLI with -j; returns the parsed JSON. */
    const celery = async (args: string[]) => {
      const r = await run(PYTHON, ['-m', 'celery', '-A', 'pytasks', ...args, '-t', '5', '-j'], PY_DIR, env);
      if (r.code !== 0)
        throw new Error(`celery ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
      return JSON.parse(r.stdout.trim().split('\n')[0] as string) as unknown;
    };
    /** Our CLI, without -A: the app comes from the environment. */
    const celeriac = (args: string[]) =>
      run(process.execPath, [join(ROOT, 'bin', 'celeriac.js'), ...args], ROOT, {
        CELERIAC_BROKER_URL: b.url(),
        CELERIAC_RESULT_BACKEND: b.backend(),
        CELERIAC_CLI: 'src',
      });
    const celeriacJson = async (args: string[]) => {
      const r = await celeriac([...args, '-t', '5', '-j']);
      if (r.code !== 0)
        throw new Error(`celeriac ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
      return JSON.parse(r.stdout.trim().split('\n')[0] as string) as unknown;
    };

    beforeAll(async () => {
      env = { INTEROP_BROKER: b.url(), INTEROP_BACKEND: b.backend(), INTEROP_QUEUE: queue };
      app = defineInteropTasks(new Celeriac({ broker: b.url(), backend: b.backend() }));
      worker = app.worker({
        queues: [queue],
        hostname: tsNode,
        concurrency: 4,
        logger: createLogger('info', (l) => logs.push(l)),
      });
      await worker.start();
      worker.revoke('revoked-before-python-started');
      pyWorker = await startPythonWorker({
        pool: 'solo',
        queue: pyQueue,
        name: pyName,
        env,
        mingle: true,
      });
      // Right after "ready." a Python worker may not have subscribed yet (kombu subscribes on its first
      // poll, and Redis PUB/SUB keeps nothing for late subscribers): ask until it answers.
      await waitUntil(
        async () => {
          const pong = await app.control.ping({ timeout: 1 });
          pyNode = pong.map((r) => Object.keys(r)[0] as string).find((n) => n.startsWith(`${pyName}@`)) ?? '';
          return pyNode !== '';
        },
        30_000,
        'the Python worker to answer ping',
      );
      expect(pyNode).not.toBe('');
    }, 90_000);

    afterAll(async () => {
      await pyWorker?.stop();
      await worker?.stop();
      await app?.close();
    });

    it('celery inspect ping/registered/stats/active_queues: Celery’s shapes from our worker', async () => {
      expect(await celery(['inspect', 'ping', '-d', tsNode])).toEqual({ [tsNode]: { ok: 'pong' } });
      const registered = (await celery(['inspect', 'registered', '-d', tsNode])) as Record<string, string[]>;
      expect(registered[tsNode]).toContain('interop.add');
      expect(registered[tsNode]?.every((n) => !n.startsWith('celery.'))).toBe(true);
      const stats = (
        (await celery(['inspect', 'stats', '-d', tsNode])) as Record<string, Record<string, unknown>>
      )[tsNode];
      expect(stats).toMatchObject({
        pid: process.pid,
        pool: { 'max-concurrency': 4, processes: [process.pid] },
        broker: { transport: b.name === 'redis' ? 'redis' : 'amqp' },
        prefetch_count: 16,
      });
      expect(typeof stats?.clock).toBe('string');
      expect(typeof stats?.uptime).toBe('number');
      const queues = (await celery(['inspect', 'active_queues', '-d', tsNode])) as Record<string, unknown[]>;
      expect(queues[tsNode]).toEqual([
        expect.objectContaining({
          name: queue,
          routing_key: queue,
          exchange: expect.objectContaining({ name: queue }),
        }),
      ]);
    });

    it('celery inspect active shows a running task with Request.info fields', async () => {
      const r = await app.sendTask('interop.slow', [3000], {}, { queue });
      await waitUntil(() => (worker.stats() as { active: number }).active === 1, 10_000, 'the task to start');
      const active = (await celery(['inspect', 'active', '-d', tsNode])) as Record<
        string,
        Record<string, unknown>[]
      >;
      expect(active[tsNode]).toEqual([
        expect.objectContaining({
          id: r.id,
          name: 'interop.slow',
          args: [3000],
          hostname: tsNode,
          acknowledged: false, // acksLate
          worker_pid: process.pid,
          delivery_info: expect.objectContaining({ routing_key: queue }),
        }),
      ]);
      expect(await r.get({ timeout: 20 })).toBe(process.pid);
    });

    it('celery control revoke/rate_limit/enable_events: our replies, and the effects', async () => {
      const id = uniq('revoked');
      expect(await celery(['control', 'revoke', id, '-d', tsNode])).toEqual([
        { [tsNode]: { ok: `tasks ${id} flagged as revoked` } },
      ]);
      expect(
        ((await celery(['inspect', 'revoked', '-d', tsNode])) as Record<string, string[]>)[tsNode],
      ).toContain(id);
      expect(await celery(['control', 'rate_limit', 'interop.add', '100/m', '-d', tsNode])).toEqual([
        { [tsNode]: { ok: 'new rate limit set successfully' } },
      ]);
      expect(await celery(['control', 'rate_limit', 'nope.task', '1/s', '-d', tsNode])).toEqual([
        { [tsNode]: { error: 'unknown task' } },
      ]);
      expect(await celery(['control', 'enable_events', '-d', tsNode])).toEqual([
        { [tsNode]: { ok: expect.stringMatching(/^task events (already )?enabled$/) } },
      ]);
    });

    it('the Python worker mingled with ours: it knows our revoked id', async () => {
      expect(logs.some((l) => l.includes(`sync with ${pyNode}`))).toBe(true);
      const revoked = (await celeriacJson(['inspect', 'revoked', '-d', pyNode])) as Record<string, string[]>;
      expect(revoked[pyNode]).toContain('revoked-before-python-started');
    });

    it('celeriac inspect/control/status/revoke steer the Python worker', async () => {
      const text = await celeriac(['inspect', 'ping', '-d', pyNode, '-t', '5']);
      expect(text.stdout).toBe(`->  ${pyNode}: OK\n        pong\n\n1 node online.\n`);
      const status = await celeriac(['status', '-t', '2']);
      expect(status.stdout).toContain(`->  ${pyNode}: OK\n`);
      expect(status.stdout).toContain(`->  ${tsNode}: OK\n`);
      expect(status.stdout).toMatch(/\n\d+ nodes online\.\n$/);
      const registered = (await celeriacJson(['inspect', 'registered', '-d', pyNode])) as Record<
        string,
        string[]
      >;
      expect(registered[pyNode]).toContain('interop.add');
      const stats = (await celeriacJson(['inspect', 'stats', '-d', pyNode])) as Record<
        string,
        Record<string, unknown>
      >;
      expect(stats[pyNode]).toMatchObject({
        pool: { 'max-concurrency': 1 },
        broker: { transport: expect.any(String) },
      });
      const queues = (await celeriacJson(['inspect', 'active_queues', '-d', pyNode])) as Record<
        string,
        { name: string }[]
      >;
      expect(queues[pyNode]?.map((q) => q.name)).toEqual([pyQueue]);
      expect(await celeriacJson(['control', 'rate_limit', 'interop.add', '5/s', '-d', pyNode])).toEqual([
        { [pyNode]: { ok: 'new rate limit set successfully' } },
      ]);
      // The harness starts Python workers --without-heartbeat --without-gossip, so Celery 5.2 has no event
      // dispatcher and its enable_events fails: the error reply, in Celery's shape, is what comes back.
      expect(await celeriacJson(['control', 'enable_events', '-d', pyNode])).toEqual([
        { [pyNode]: { error: expect.stringContaining("'NoneType' object has no attribute 'groups'") } },
      ]);
      expect(await celeriacJson(['inspect', 'active', '-d', pyNode])).toEqual({ [pyNode]: [] });
      const id = uniq('py-revoked');
      expect(await celeriacJson(['revoke', id, '-d', pyNode])).toEqual([
        { [pyNode]: { ok: `tasks ${id} flagged as revoked` } },
      ]);
      const revoked = (await celeriacJson(['inspect', 'revoked', '-d', pyNode])) as Record<string, string[]>;
      expect(revoked[pyNode]).toContain(id);
      const unknown = await celeriac(['control', 'shutdown', '-d', pyNode, '-t', '3']);
      expect(unknown.stderr).toContain('No nodes replied within time constraint');
      expect(unknown.code).toBe(69);
      await waitUntil(
        () => pyWorker.proc.exitCode !== null || pyWorker.proc.signalCode !== null,
        30_000,
        'python exit',
      );
    }, 120_000);

    it('celery control shutdown stops our worker warm', async () => {
      const r = await run(
        PYTHON,
        ['-m', 'celery', '-A', 'pytasks', 'control', 'shutdown', '-d', tsNode, '-t', '2'],
        PY_DIR,
        env,
      );
      expect(r.stderr).toContain('No nodes replied within time constraint'); // as with a Python worker
      await worker.stopped;
      expect(worker.state).toBe('stopped');
      expect(logs.some((l) => l.includes('Got shutdown from remote'))).toBe(true);
    });
  });
});
