/**
 * `celeriac worker` with the observability flags, as a process on the embedded SQLite broker:
 * `--log-format json --log-file` writes one JSON object per line with the task's id and name, reopens the
 * file on SIGHUP after a rotation (logrotate's rename-then-signal), and `--metrics-port` serves /metrics
 * on loopback, whose counters rise as tasks run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { waitUntil } from '../helpers/services.js';

const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const appModule = fileURLToPath(new URL('../fixtures/apps/basic.ts', import.meta.url));
const procs: ChildProcess[] = [];
const apps: Celeriac[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** A port free right now on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const lines = (path: string): Record<string, unknown>[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

describe('celeriac worker observability flags', () => {
  it('json log lines in a file reopened on SIGHUP, and /metrics rising as tasks run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-obs-'));
    const db = join(dir, 'q.db');
    const log = join(dir, 'worker.log');
    const port = await freePort();
    const env = { ...process.env, CELERIAC_BROKER_URL: `sqlite://${db}`, CELERIAC_RESULT_BACKEND: '' };
    const args = ['-A', appModule, 'worker', '-l', 'info', '-n', 'obs@test', '--log-format', 'json'];
    const proc = spawn(process.execPath, [bin, ...args, '--log-file', log, '--metrics-port', String(port)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(proc);
    let stderr = '';
    proc.stderr?.on('data', (d) => {
      stderr += d;
    });
    await waitUntil(() => lines(log).some((l) => String(l.message).includes('ready')), 30_000);
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const succeeded = (text: string) =>
      Number(
        /flower_events_total\{worker="obs@test",type="task-succeeded",task="tasks.add"\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    expect(succeeded(await scrape())).toBe(0);

    const app = new Celeriac({ broker: `sqlite://${db}` });
    apps.push(app);
    const first = await app.sendTask('tasks.add', [1, 2]);
    await first.get({ timeout: 20 });
    await waitUntil(async () => succeeded(await scrape()) === 1, 10_000);
    const line = lines(log).find((l) => l.task_id === first.id && String(l.message).includes('succeeded'));
    expect(line).toMatchObject({
      level: 'INFO',
      worker: 'obs@test',
      process: 'MainProcess',
      task_name: 'tasks.add',
    });
    expect(typeof line?.time).toBe('string');

    // logrotate: move the file away, then HUP; new lines go to a new file at the same path.
    renameSync(log, `${log}.1`);
    proc.kill('SIGHUP');
    // Reopening creates the file at the path again: then every line goes there.
    await waitUntil(() => existsSync(log), 10_000);
    const second = await app.sendTask('tasks.add', [2, 2]);
    await second.get({ timeout: 20 });
    await waitUntil(
      () => lines(log).some((l) => l.task_id === second.id && String(l.message).includes('succeeded')),
      10_000,
    );
    expect(lines(`${log}.1`).some((l) => l.task_id === first.id)).toBe(true);
    expect(succeeded(await scrape())).toBeGreaterThanOrEqual(2);
    expect(stderr).not.toMatch(/Error/);
  }, 90_000);
});
