/**
 * rpc:// results from the CLI (issue 17, defect 9): `celeriac result` in another process cannot see an
 * rpc result (it goes only to the sender's reply queue) and must say so at once instead of waiting
 * forever; `celeriac call --wait` is the way to wait; and no CLI run leaves its reply queue behind.
 * Uses a private vhost on the shared RabbitMQ.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { usePrivateVhost } from '../helpers/rabbit.js';
import { skipUnless } from '../helpers/services.js';

const skip = await skipUnless(5672);
const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const appModule = fileURLToPath(new URL('../fixtures/apps/basic.ts', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [bin, '-A', appModule, ...args], {
      env,
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
    const killer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** The vhost's queues (name → consumers), read with a plain connection (no management API needed). */
async function queueExists(url: string, name: string): Promise<boolean> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    try {
      await ch.checkQueue(name);
      return true;
    } catch {
      return false;
    }
  } finally {
    await conn.close().catch(() => {});
  }
}

describe.skipIf(skip)('rpc:// from the CLI', () => {
  const vhostUrl = usePrivateVhost(skip);
  const procs: ReturnType<typeof spawn>[] = [];
  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
  });
  const env = () => ({
    ...process.env,
    CELERIAC_BROKER_URL: vhostUrl(),
    CELERIAC_RESULT_BACKEND: 'rpc://',
  });

  it('celeriac result fails at once, naming the reason and the alternatives', async () => {
    const r = await run(['result', '00000000-0000-4000-8000-000000000000'], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rpc results are sent only to the reply queue of the process that sent/);
    expect(r.stderr).toMatch(/call --wait/);
    expect(r.stderr).toMatch(/redis:\/\/|sqlite:\/\//);
    expect(r.ms).toBeLessThan(15_000);
  });

  /** Queues named like an oid (a uuid): the reply queues in the vhost. */
  async function replyQueues(): Promise<string[]> {
    const vhost = decodeURIComponent(new URL(vhostUrl()).pathname.slice(1));
    const out = await new Promise<string>((resolve) => {
      const p = spawn('rabbitmqctl', ['-q', 'list_queues', '-p', vhost, 'name']);
      let s = '';
      p.stdout.on('data', (d) => {
        s += d;
      });
      p.on('close', () => resolve(s));
    });
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(l));
  }

  it('celeriac call leaves no reply queue behind (it would live for x-expires, a day)', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await run(['call', 'tasks.add', '--args', '[1, 1]'], env(), 40_000);
      expect(r.code).toBe(0);
    }
    expect(await queueExists(vhostUrl(), 'celery')).toBe(true);
    expect(await replyQueues()).toEqual([]);
  }, 90_000);

  it('celeriac call --wait waits for the result where it can arrive', async () => {
    const worker = spawn(process.execPath, [bin, '-A', appModule, 'worker', '-l', 'info'], {
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(worker);
    const r = await run(
      ['call', 'tasks.add', '--args', '[2, 3]', '--wait', '--timeout', '20'],
      env(),
      40_000,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [id, value] = r.stdout.trim().split('\n');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(value).toBe('5');
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
    expect(await replyQueues()).toEqual([]);
  }, 90_000);
});
