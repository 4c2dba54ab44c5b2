/**
 * The CLI end to end on the embedded SQLite default: worker processes started with `celeriac worker`,
 * `call`, `result`, `purge`, warm and cold shutdown by signal (nothing lost), and errors a person can act on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { waitUntil } from '../helpers/services.js';

const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const appModule = fileURLToPath(new URL('../fixtures/apps/basic.ts', import.meta.url));

function env(db: string): NodeJS.ProcessEnv {
  return { ...process.env, CELERIAC_BROKER_URL: `sqlite://${db}`, CELERIAC_RESULT_BACKEND: '' };
}

function run(
  args: string[],
  e: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
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

interface WorkerProc {
  proc: ChildProcess;
  logs: string[];
  exited: Promise<number | null>;
}

function startWorker(e: NodeJS.ProcessEnv, extra: string[] = []): WorkerProc {
  const proc = spawn(process.execPath, [bin, '-A', appModule, 'worker', '-l', 'info', ...extra], {
    env: e,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  proc.stderr?.on('data', (d) => logs.push(...String(d).split('\n')));
  proc.stdout?.on('data', (d) => logs.push(...String(d).split('\n')));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  workers.push(proc);
  return { proc, logs, exited };
}

const workers: ChildProcess[] = [];
const apps: Celeriac[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) if (w.exitCode === null) w.kill('SIGKILL');
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'celeriac-cli-')), 'test.db');
}

function client(db: string): Celeriac {
  const app = new Celeriac({ broker: `sqlite://${db}` });
  apps.push(app);
  return app;
}

describe('celeriac CLI', () => {
  it('call prints an id, a worker runs it, result prints the value; Celery’s -A order works', async () => {
    const db = tempDb();
    const call = await run(['call', 'tasks.add', '--args', '[2]', '--kwargs', '{"y": 40}'], env(db));
    expect(call.code).toBe(0);
    const id = call.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const w = startWorker(env(db), ['-P', 'eventlet', '-c', '50']);
    const result = await run(['result', id, '--timeout', '30'], env(db));
    expect(result).toMatchObject({ code: 0, stdout: '42\n' });
    expect(w.logs.join('\n')).toContain(`Task tasks.add[${id}] succeeded in`);
  }, 60_000);

  it('result exits 1 with the remote error; purge -f empties a queue', async () => {
    const db = tempDb();
    const failing = await run(['call', 'tasks.fail', '--args', '["card declined"]'], env(db));
    startWorker(env(db));
    const result = await run(['result', failing.stdout.trim(), '-t', '30'], env(db));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Error: card declined');
    for (let i = 0; i < 3; i++) await run(['call', 'tasks.add', '--args', '[1, 1]', '-Q', 'spare'], env(db));
    const purge = await run(['purge', '-Q', 'spare', '-f'], env(db));
    expect(purge).toMatchObject({ code: 0 });
    expect(purge.stdout).toContain('Purged 3 messages');
  }, 60_000);

  it('SIGTERM: warm shutdown finishes the running task and loses nothing', async () => {
    const db = tempDb();
    const app = client(db);
    const w = startWorker(env(db), ['-c', '1']);
    await waitUntil(() => w.logs.some((l) => l.includes('ready')), 30_000, 'worker ready');
    const slow = await app.sendTask('tasks.sleep', [800]);
    await waitUntil(
      () => w.logs.some((l) => l.includes(`[${slow.id}] received`)),
      10_000,
      'slow task received',
    );
    const queued = await Promise.all([1, 2, 3, 4, 5].map((i) => app.sendTask('tasks.add', [i, i])));
    await waitUntil(
      () => w.logs.filter((l) => l.includes('tasks.add[') && l.includes('received')).length === 5,
      10_000,
      'prefetch',
    );
    w.proc.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(await slow.get({ timeout: 10 })).toBe(800);
    // The five prefetched tasks went back to the queue; a new worker runs them.
    startWorker(env(db));
    expect(await Promise.all(queued.map((r) => r.get({ timeout: 30 })))).toEqual([2, 4, 6, 8, 10]);
  }, 90_000);

  it('a second signal goes cold: a running acksLate task is requeued and runs again', async () => {
    const db = tempDb();
    const app = client(db);
    const w = startWorker(env(db), ['-c', '1', '--shutdown-timeout', '60']);
    await waitUntil(() => w.logs.some((l) => l.includes('ready')), 30_000, 'worker ready');
    const late = await app.sendTask('tasks.lateSleep', [3000]);
    await waitUntil(() => w.logs.some((l) => l.includes(`[${late.id}] received`)), 10_000, 'received');
    w.proc.kill('SIGTERM');
    await waitUntil(() => w.logs.some((l) => l.includes('warm shutdown')), 10_000, 'warm');
    w.proc.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.logs.join('\n')).toContain('cold shutdown');
    startWorker(env(db));
    expect(await late.get({ timeout: 30 })).toBe(3000);
  }, 90_000);

  it('says what to do on a missing module, a module without an app, an unknown scheme', async () => {
    const e = env(tempDb());
    const missing = await run(['worker', '-A', './nope.ts'], e);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Cannot load the app: no file "./nope.ts"');
    const noApp = await run(
      ['worker', '-A', fileURLToPath(new URL('../helpers/services.ts', import.meta.url))],
      e,
    );
    expect(noApp.stderr).toContain('exports no Celeriac app');
    const scheme = await run(['-b', 'sqlit://x.db', 'call', 'tasks.add'], e);
    expect(scheme.code).toBe(1);
    expect(scheme.stderr).toContain('Unknown broker scheme "sqlit://" (did you mean "sqlite"?)');
    const noA = await run(['worker'], e);
    expect(noA.code).toBe(2);
    expect(noA.stderr).toContain('worker needs the app');
  }, 60_000);
});
