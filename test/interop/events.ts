/**
 * The events interop cases, run per broker by events-redis.test.ts and events-amqp.test.ts: a Celeriac
 * worker with -E, read by Python Celery 5.2's own tools.
 *  - celery.events.state.State (Flower's engine) fed by app.events.Receiver (py/event_state.py) sees
 *    the worker alive with the right `processed`, and every task with its state, runtime and result;
 *  - `celery events --dump` prints the worker's heartbeats and task events;
 *  - under load (5,000 tasks with -E, batched into task.multi) our own receiver sees every
 *    task-succeeded event;
 *  - the other way: our receiver and ClusterState read a Python Celery prefork worker with -E, whose
 *    hub batches task events into task.multi lists.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, type CeleryEvent } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { uniq, waitUntil } from '../helpers/services.js';
import { defineInteropTasks } from './celeriac-app.js';
import { PY_DIR, PYTHON, stopProcess } from './harness.js';

interface PyState {
  workers: Record<
    string,
    { alive: boolean; processed: number; active: number; sw_ident: string; freq: number }
  >;
  tasks: Record<
    string,
    {
      state: string;
      name: string;
      args: string;
      result: string | null;
      runtime: number | null;
      exception: string | null;
      traceback: string | null;
      worker: string;
    }
  >;
  events: number;
  types: Record<string, number>;
  timed_out: boolean;
}

function spawnPy(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(PYTHON, args, { cwd: PY_DIR, stdio: 'pipe', detached: true, env: { ...process.env, ...env } });
}

export function eventsInterop(
  broker: string,
  url: string,
  backendUrl: string,
  skip: boolean,
  cleanup: (queue: string) => Promise<void>,
): void {
  describe.skipIf(skip)(`interop (${broker}): Celeriac worker events read by Python Celery 5.2`, () => {
    const queue = uniq(`ev-${broker}`);
    let app: Celeriac;
    let worker: Worker;

    beforeAll(async () => {
      app = defineInteropTasks(new Celeriac({ broker: url, backend: backendUrl }));
      await (await app.broker()).purge(queue);
    });

    afterAll(async () => {
      await worker?.stop();
      await app?.close();
      await cleanup(queue);
    });

    const makeWorker = (): Worker =>
      app.worker({
        queues: [queue],
        hostname: `${uniq('ev')}@%h`,
        taskEvents: true,
        heartbeatInterval: 0.5,
        logger: createLogger('error', () => {}),
      });
    async function startWorker(): Promise<void> {
      worker = makeWorker();
      await worker.start();
    }

    it('celery.events.state.State sees the worker alive with its processed count, and the tasks with state, runtime, result', async () => {
      // Made first: the Python side needs the hostname; started once the Python receiver consumes.
      worker = makeWorker();
      const py = spawnPy(['event_state.py', url, worker.hostname, '12', '60']);
      let stderr = '';
      py.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const lines: string[] = [];
      createInterface({ input: py.stdout as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
      try {
        await waitUntil(() => lines.length > 0, 30_000, `python receiver ready (${stderr})`);
        expect(JSON.parse(lines[0] as string)).toEqual({ ready: true });
        await worker.start();
        const adds = await Promise.all(
          Array.from({ length: 10 }, (_, i) => app.sendTask('interop.add', [i, 1], {}, { queue })),
        );
        const fails = await Promise.all(
          [0, 1].map(() => app.sendTask('interop.fail', ['nope'], {}, { queue })),
        );
        await waitUntil(() => lines.length > 1, 60_000, `python state result (${stderr})`);
        const s = JSON.parse(lines[1] as string) as PyState;
        expect(s.timed_out).toBe(false);
        const w = s.workers[worker.hostname];
        expect(w).toMatchObject({ alive: true, processed: 12, sw_ident: 'celeriac', freq: 0.5 });
        for (const [i, r] of adds.entries()) {
          const t = s.tasks[r.id];
          expect(t).toMatchObject({
            state: 'SUCCESS',
            name: 'interop.add',
            args: `(${i}, 1)`,
            result: String(i + 1),
            worker: worker.hostname,
          });
          expect(t?.runtime).toBeGreaterThanOrEqual(0);
        }
        for (const r of fails) {
          expect(s.tasks[r.id]).toMatchObject({ state: 'FAILURE', exception: "TypeError('nope')" });
          expect(s.tasks[r.id]?.traceback).toContain('nope');
        }
      } finally {
        await stopProcess(py, 2000);
      }
    }, 120_000);

    it('celery events --dump prints our worker’s heartbeats and task events', async () => {
      if (worker?.state !== 'running') await startWorker();
      const py = spawnPy(['-m', 'celery', '-b', url, 'events', '--dump']);
      let out = '';
      py.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      py.stderr?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      try {
        // A heartbeat line proves the dump is subscribed; then a task's events must all show.
        await waitUntil(
          () => out.includes(`${worker.hostname} [`) && out.includes('heartbeat'),
          30_000,
          `dump heartbeat:\n${out}`,
        );
        const r = await app.sendTask('interop.add', [20, 22], {}, { queue });
        await r.get({ timeout: 20 });
        await waitUntil(
          () => out.includes('task succeeded') && out.includes(r.id),
          20_000,
          `dump task:\n${out}`,
        );
        expect(out).toContain(`task received: interop.add(${r.id}) args=(20, 22)`);
        expect(out).toMatch(new RegExp(`task succeeded: interop\\.add\\(${r.id}\\).*result=42`));
      } finally {
        await stopProcess(py, 2000);
      }
    }, 90_000);

    it('5,000 tasks with -E: our receiver sees every task-succeeded event', async () => {
      if (worker?.state !== 'running') await startWorker();
      const monitor = new Celeriac({ broker: url, backend: null });
      const seen = new Set<string>();
      const keys = new Set<string>();
      const recv = monitor.events.receiver({
        handlers: {
          'task-succeeded': (e: CeleryEvent) => {
            if (e.hostname === worker.hostname) seen.add(e.uuid as string);
          },
        },
      });
      await recv.start();
      const b = await monitor.broker();
      const tap = await b.broadcast?.subscribe(
        { name: 'celeryev', type: 'topic' },
        'task.multi',
        (m) => keys.add(m.routingKey),
        {
          queue: `celeryev.${uniq('tap')}`,
        },
      );
      try {
        const add = app.tasks.get('interop.add');
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const rs = await add?.applyMany(
            Array.from({ length: 1000 }, (_, j) => [i, j]),
            { queue, ignoreResult: true },
          );
          for (const r of rs ?? []) ids.push(r.id);
        }
        await waitUntil(() => seen.size === 5000, 120_000, `5000 succeeded events (saw ${seen.size})`);
        expect(ids.every((id) => seen.has(id))).toBe(true);
        expect(keys.has('task.multi')).toBe(true);
      } finally {
        await tap?.close();
        await recv.close();
        await monitor.close();
      }
    }, 180_000);

    it('our receiver and ClusterState read a Python Celery prefork worker with -E (task.multi batches)', async () => {
      const pyQueue = uniq(`evpy-${broker}`);
      const name = `${uniq('py')}@h`;
      const monitor = new Celeriac({ broker: url, backend: null });
      const state = monitor.events.state();
      const multi: string[] = [];
      const recv = monitor.events.receiver({ handlers: { '*': state.event } });
      await recv.start();
      const b = await monitor.broker();
      const tap = await b.broadcast?.subscribe(
        { name: 'celeryev', type: 'topic' },
        'task.multi',
        (m) => multi.push(m.routingKey),
        {
          queue: `celeryev.${uniq('tap')}`,
        },
      );
      const py = spawnPy(
        [
          '-m',
          'celery',
          '-A',
          'pytasks',
          'worker',
          '-P',
          'prefork',
          '-c',
          '2',
          '-Q',
          pyQueue,
          '-n',
          name,
          '-E',
          '-l',
          'info',
          '--without-gossip',
          '--without-mingle',
        ],
        {
          INTEROP_BROKER: url,
          INTEROP_BACKEND: backendUrl,
          INTEROP_QUEUE: pyQueue,
        },
      );
      let log = '';
      py.stdout?.on('data', (d: Buffer) => {
        log += d.toString();
      });
      py.stderr?.on('data', (d: Buffer) => {
        log += d.toString();
      });
      try {
        await waitUntil(() => / ready\./.test(log), 60_000, `python worker ready:\n${log}`);
        const rs = await Promise.all(
          Array.from({ length: 20 }, (_, i) => app.sendTask('interop.add', [i, i], {}, { queue: pyQueue })),
        );
        await waitUntil(
          () => rs.every((r) => state.tasks.get(r.id)?.state === 'SUCCESS'),
          60_000,
          `SUCCESS in state:\n${log}`,
        );
        const t = state.tasks.get(rs[3]?.id as string);
        expect(t).toMatchObject({ name: 'interop.add', args: '(3, 3)', result: '6', worker: name });
        expect(t?.runtime).toBeGreaterThan(0);
        await waitUntil(
          () => state.workers.get(name)?.processed === 20,
          30_000,
          'a heartbeat with processed=20',
        );
        expect(state.workers.get(name)).toMatchObject({ alive: true, sw_ident: 'py-celery', freq: 2 });
        expect(multi.length).toBeGreaterThan(0); // Celery's prefork hub batched, and we unpacked it
      } finally {
        await stopProcess(py, 10_000);
        await tap?.close();
        await recv.close();
        await monitor.close();
        await cleanup(pyQueue);
      }
    }, 180_000);
  });
}
