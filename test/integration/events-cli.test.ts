/**
 * `celeriac worker -E --heartbeat-interval` and `celeriac events` (piped: a line per event; `--dump`: JSON
 * lines) as processes on Redis DB 11, with an in-process client sending the tasks and an in-process
 * receiver checking `--without-heartbeat`. Each test names its own worker and filters by it (other suites
 * may send events on the same DB).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, type CeleryEvent } from '../../src/index.js';
import { skipRedis } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';
import { stopProcess } from '../interop/harness.js';

const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const appModule = fileURLToPath(new URL('../interop/celeriac-app.ts', import.meta.url));
const URL_ = 'redis://127.0.0.1:6379/11';
const env = { ...process.env, CELERIAC_BROKER_URL: URL_, CELERIAC_RESULT_BACKEND: URL_ };

const procs: ChildProcess[] = [];
function run(args: string[]): { proc: ChildProcess; out: () => string } {
  const proc = spawn(process.execPath, [bin, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  procs.push(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { proc, out: () => out };
}

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => stopProcess(p, 5000)));
});

describe.skipIf(skipRedis && !inCI)('celeriac events and the worker’s event flags (redis)', () => {
  it('events (lines) and events --dump show a -E worker’s heartbeats and task events', async () => {
    const queue = uniq('evcli');
    const host = `${uniq('cli')}@h`;
    const lines = run(['events']);
    const dump = run(['events', '--dump']);
    await waitUntil(() => lines.out().includes('capturing'), 60_000, `events ready:\n${lines.out()}`);
    run(['worker', '-A', appModule, '-Q', queue, '-n', host, '-E', '--heartbeat-interval', '0.5']);
    await waitUntil(
      () => dump.out().includes(`"hostname":"${host}"`),
      60_000,
      `dump heartbeat:\n${dump.out()}`,
    );
    const client = new Celeriac({ broker: URL_, backend: URL_ });
    try {
      const r = await client.sendTask('interop.add', [2, 5], {}, { queue });
      expect(await r.get({ timeout: 30 })).toBe(7);
      await waitUntil(
        () => lines.out().includes(`${host} task-succeeded ${r.id} result=7`),
        20_000,
        `lines:\n${lines.out()}`,
      );
      // The first heartbeat comes freq (0.5 s) after worker-online: the task may be done before it.
      const heartbeat = new RegExp(`${host} worker-heartbeat active=\\d+ processed=\\d+ freq=0.5`);
      await waitUntil(() => heartbeat.test(lines.out()), 20_000, `heartbeat line:\n${lines.out()}`);
      expect(lines.out()).toContain(`${host} task-received ${r.id} name=interop.add args=(2, 5)`);
      await waitUntil(
        () => dump.out().includes(`"uuid":"${r.id}"`) && dump.out().includes('"task-succeeded"'),
        20_000,
        'dump task',
      );
      const hostEvents = () =>
        dump
          .out()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as CeleryEvent)
          .filter((e) => e.hostname === host);
      // The two receivers are separate processes: the dump may print the heartbeat after the lines view.
      await waitUntil(
        () => hostEvents().some((e) => e.type === 'worker-heartbeat'),
        20_000,
        `dump heartbeat event:\n${dump.out()}`,
      );
      const events = hostEvents();
      const hb = events.find((e) => e.type === 'worker-heartbeat');
      expect(hb).toMatchObject({
        freq: 0.5,
        sw_ident: 'celeriac',
        utcoffset: expect.any(Number),
        pid: expect.any(Number),
      });
      expect(hb?.local_received).toBeUndefined();
      expect(events.find((e) => e.uuid === r.id && e.type === 'task-succeeded')).toMatchObject({
        result: '7',
      });
    } finally {
      await client.close();
    }
  }, 180_000);

  it('--without-heartbeat: a worker sends no worker events, and without -E no task events', async () => {
    const queue = uniq('evcli');
    const host = `${uniq('quiet')}@h`;
    const monitor = new Celeriac({ broker: URL_, backend: null });
    const seen: CeleryEvent[] = [];
    const recv = monitor.events.receiver({
      handlers: { '*': (e) => void (e.hostname === host && seen.push(e)) },
    });
    await recv.start();
    const client = new Celeriac({ broker: URL_, backend: URL_ });
    try {
      const w = run([
        'worker',
        '-A',
        appModule,
        '-Q',
        queue,
        '-n',
        host,
        '--without-heartbeat',
        '-l',
        'info',
      ]);
      await waitUntil(() => w.out().includes(' ready: '), 60_000, `worker ready:\n${w.out()}`);
      const r = await client.sendTask('interop.add', [1, 1], {}, { queue });
      expect(await r.get({ timeout: 30 })).toBe(2);
      // A second worker with heartbeats on, on the same DB, proves the receiver hears events meanwhile.
      const host2 = `${uniq('loud')}@h`;
      const seen2: string[] = [];
      const recv2 = monitor.events.receiver({
        handlers: { 'worker-heartbeat': (e) => void (e.hostname === host2 && seen2.push(e.type)) },
      });
      await recv2.start();
      run(['worker', '-A', appModule, '-Q', uniq('evcli'), '-n', host2, '--heartbeat-interval', '0.2']);
      await waitUntil(() => seen2.length >= 3, 60_000, 'the other worker’s heartbeats');
      await recv2.close();
      expect(seen).toEqual([]);
    } finally {
      await recv.close();
      await Promise.all([client.close(), monitor.close()]);
    }
  }, 180_000);
});
