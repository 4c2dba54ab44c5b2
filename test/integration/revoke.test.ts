/**
 * Revoke with terminate in every kind of pool, on a real SQLite broker and backend: an async task that
 * awaits forever is REVOKED and its slot serves the next task; a prefork or threads task stuck in
 * `while (true) {}` is killed with its child, which is replaced, and the next task runs. Then
 * `--statedb`: ids revoked by one worker are refused as REVOKED by a `celeriac worker` process started
 * later on the same state file. Every wait is on a file, a result or a condition, never a sleep.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TaskError } from '../../src/errors.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker, WorkerOptions } from '../../src/worker/worker.js';
import { uniq, waitUntil } from '../helpers/services.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-revoke-'));
const db = join(dir, 'broker.db');
process.env.CELERIAC_BROKER_URL = `sqlite://${db}`;
process.env.CELERIAC_RESULT_BACKEND = `sqlite://${db}`;
const { app } = await import('../fixtures/apps/revoke.js');
const appModule = fileURLToPath(new URL('../fixtures/apps/revoke.ts', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
type Where = { pid: number; thread: number };

const workers: Worker[] = [];
const procs: ChildProcess[] = [];
const lines: string[] = [];
async function startWorker(options: WorkerOptions): Promise<Worker> {
  const w = app.worker({
    appModule,
    logger: createLogger('info', (l) => lines.push(l)),
    shutdownTimeout: 5,
    ...options,
  });
  workers.push(w);
  await w.start();
  return w;
}
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
  lines.length = 0;
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.each([
  { pool: 'async', task: 'rv.hang', child: (w: Where) => w.pid },
  { pool: 'prefork', task: 'rv.spin', child: (w: Where) => w.pid },
  { pool: 'threads', task: 'rv.spin', child: (w: Where) => w.thread },
])('$pool pool: revoke with terminate', ({ pool, task, child }) => {
  it('stops the running task, stores REVOKED (terminated), and the next task runs', async () => {
    const queue = uniq(`rv-${pool}`);
    const w = await startWorker({ pool, concurrency: 1, queues: [queue] });
    const marker = join(dir, uniq('marker'));
    const r = await app.sendTask(task, [marker], {}, { queue });
    await waitUntil(
      () => existsSync(marker) && readFileSync(marker, 'utf8').length > 0,
      20_000,
      'the task to start',
    );
    const ran = JSON.parse(readFileSync(marker, 'utf8')) as Where;
    const next = await app.sendTask('rv.where', [], {}, { queue });

    expect(w.revoke(r.id, { terminate: true, signal: 'SIGKILL' })).toEqual({ ok: `terminate: ${r.id}` });

    const err = await r.get({ timeout: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ excType: 'TaskRevokedError', excMessage: ['terminated'] });
    expect(r.state).toBe('REVOKED');
    const after = (await next.get({ timeout: 20 })) as Where;
    if (pool === 'async') {
      expect(after.pid).toBe(process.pid);
    } else {
      // The child that spun is gone, and a new one ran the next task.
      expect(child(after)).not.toBe(child(ran));
      expect(w.stats().pool).toMatchObject({ terminated: 1 });
    }
    if (pool === 'prefork') {
      await waitUntil(() => !alive(ran.pid), 10_000, 'the spinning process to die');
      expect(lines.some((l) => l.includes(`sending SIGKILL to process ${ran.pid}`))).toBe(true);
    }
    if (pool === 'threads')
      expect(lines.some((l) => l.includes('SIGKILL does not apply to a thread'))).toBe(true);
    expect(w.pool?.active).toBe(0);
  });
});

describe('--statedb', () => {
  it('ids revoked before a restart are refused as REVOKED by the worker started after it', async () => {
    const state = join(dir, 'worker-%n.state');
    const queue = uniq('rv-statedb');
    const first = await startWorker({ queues: [queue], stateDb: state });
    first.revoke(['gone-1', 'gone-2']);
    await first.stop();
    const path = join(dir, 'worker-celeriac.state');
    expect(JSON.parse(readFileSync(path, 'utf8')).revoked).toHaveProperty('gone-1');

    // A new process: the CLI worker, with the same file.
    const proc = spawn(
      process.execPath,
      [bin, '-A', appModule, 'worker', '-l', 'info', '-Q', queue, '--statedb', state],
      {
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    procs.push(proc);
    const out: string[] = [];
    proc.stdout?.on('data', (d) => out.push(String(d)));
    proc.stderr?.on('data', (d) => out.push(String(d)));
    await waitUntil(() => out.join('').includes(' ready: '), 30_000, 'the CLI worker to be ready');
    expect(out.join('')).toContain('2 revoked ids restored');

    const gone = await app.sendTask('rv.noop', [], {}, { queue, taskId: 'gone-2' });
    await expect(gone.get({ timeout: 20 })).rejects.toMatchObject({
      excType: 'TaskRevokedError',
      excMessage: ['revoked'],
    });
    const fine = await app.sendTask('rv.noop', [], {}, { queue });
    expect(await fine.get({ timeout: 20 })).toBe('ran');
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
    // Saved again at its shutdown: still there.
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')).revoked).sort()).toEqual(['gone-1', 'gone-2']);
  });
});
