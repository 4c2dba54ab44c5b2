/**
 * Start-up failures end in a clear message and an exit, never a silent hang (issue 17, defect 8): an
 * unreachable broker logs each retry with its delay as Celery does, brokerConnectionMaxRetries and
 * brokerConnectionRetryOnStartup are honoured, the first Ctrl-C while connecting stops the worker, and
 * fatal errors (a queue declared with other arguments, an unusable SQLite path) exit non-zero. Workers
 * are real `celeriac worker` processes; the closed ports are free ports nobody listens on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { usePrivateVhost } from '../helpers/rabbit.js';
import { freePort } from '../helpers/redis.js';
import { skipUnless, waitUntil } from '../helpers/services.js';

const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const appModule = fileURLToPath(new URL('../fixtures/apps/startup.ts', import.meta.url));
/** An app with default settings (the retry settings above are new). */
const basicModule = fileURLToPath(new URL('../fixtures/apps/basic.ts', import.meta.url));
const skipRabbit = await skipUnless(5672);

interface Proc {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}
const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
});

function worker(broker: string, env: Record<string, string> = {}, module = appModule): Proc {
  const proc = spawn(process.execPath, [bin, '-A', module, 'worker', '-l', 'info'], {
    env: { ...process.env, CELERIAC_BROKER_URL: broker, CELERIAC_RESULT_BACKEND: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, out: () => out, exited };
}

/** Resolve with the exit code, or null when the process is still up after `ms`. */
const exitWithin = (p: Proc, ms: number) =>
  Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), ms))]);

describe('broker start-up failures', () => {
  it('AMQP unreachable: logs each retry with its delay, and the first Ctrl-C stops it', async () => {
    const port = await freePort();
    const w = worker(`amqp://guest:guest@127.0.0.1:${port}//`, {}, basicModule);
    await waitUntil(
      () => /Trying again in 2\.00 seconds\.\.\. \(1\/100\)/.test(w.out()),
      20_000,
      'retry log',
    );
    expect(w.out()).toContain(`Cannot connect to amqp://guest:**@127.0.0.1:${port}//: `);
    expect(w.out()).toMatch(/ECONNREFUSED/);
    w.proc.kill('SIGINT');
    expect(await exitWithin(w, 5_000)).toBe(0);
  }, 40_000);

  it('AMQP unreachable with brokerConnectionMaxRetries=1: gives up and exits non-zero', async () => {
    const port = await freePort();
    const w = worker(`amqp://guest:guest@127.0.0.1:${port}//`, { TEST_MAX_RETRIES: '1' });
    expect(await exitWithin(w, 25_000)).toBe(1);
    expect(w.out()).toMatch(/\(1\/1\)/);
    expect(w.out()).toMatch(/cannot start the worker: Cannot connect .*gave up after 2 attempts/);
  }, 40_000);

  it('Redis unreachable with brokerConnectionRetryOnStartup off: exits non-zero at the first failure', async () => {
    const port = await freePort();
    const w = worker(`redis://127.0.0.1:${port}/0`, { TEST_RETRY_ON_STARTUP: '0' });
    expect(await exitWithin(w, 20_000)).toBe(1);
    expect(w.out()).not.toMatch(/Trying again/);
    expect(w.out()).toMatch(
      /cannot start the worker: Cannot connect .*brokerConnectionRetryOnStartup is off/,
    );
  }, 40_000);

  it('SQLite file in a missing directory: exits non-zero saying so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-start-'));
    try {
      const w = worker(`sqlite://${join(dir, 'missing', 'x.db')}`, {}, basicModule);
      expect(await exitWithin(w, 20_000)).toBe(1);
      expect(w.out()).toMatch(/cannot start the worker: .*does not exist/);
      expect(w.out()).not.toMatch(/Trying again/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});

describe.skipIf(skipRabbit)('AMQP fatal start-up errors', () => {
  const vhostUrl = usePrivateVhost(skipRabbit);

  it('a queue declared with other arguments (x-max-priority): exits non-zero with the reason', async () => {
    const conn = await amqplib.connect(vhostUrl());
    const ch = await conn.createChannel();
    await ch.assertQueue('celery', { durable: true, arguments: { 'x-max-priority': 10 } });
    await conn.close();
    const w = worker(vhostUrl(), {}, basicModule);
    expect(await exitWithin(w, 20_000)).toBe(1);
    expect(w.out()).toMatch(/Queue "celery" already exists with other arguments.*x-max-priority/);
  }, 40_000);
});
