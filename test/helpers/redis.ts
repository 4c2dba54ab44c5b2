/**
 * Redis helpers for integration tests: a raw ioredis client to assert keys, prefix cleanup, and a private
 * redis-server on a free port for kill/restart tests (the shared server on 6379 is never restarted).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { portOpen, skipUnless } from './services.js';

export const REDIS_PORT = 6379;
export const skipRedis = await skipUnless(REDIS_PORT);

export function rawClient(db = 0, port = REDIS_PORT): Redis {
  const c = new Redis({ host: '127.0.0.1', port, db, lazyConnect: false, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  return c;
}

/** Delete every key starting with `prefix` in `db`. */
export async function deletePrefix(prefix: string, db = 0, port = REDIS_PORT): Promise<void> {
  const c = rawClient(db, port);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(
        cursor,
        'MATCH',
        `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
        'COUNT',
        1000,
      );
      cursor = next;
      if (keys.length) await c.del(...keys);
    } while (cursor !== '0');
  } finally {
    c.disconnect();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A redis-server of our own (no persistence), which tests may kill and restart on the same port. */
export class PrivateRedis {
  readonly port: number;
  readonly #dir: string;
  readonly #args: string[];
  #proc: ChildProcess | null = null;

  private constructor(port: number, args: string[]) {
    this.port = port;
    this.#args = args;
    this.#dir = mkdtempSync(join(tmpdir(), 'celeriac-redis-'));
  }

  /**
   * Start a server on a free port. `options.tls` serves TLS only (on that port) with the given
   * certificate files; `options.args` adds redis-server options (e.g. `--requirepass`).
   */
  static async start(
    options: { args?: string[]; tls?: { cert: string; key: string } } = {},
  ): Promise<PrivateRedis> {
    const port = await freePort();
    const listen = options.tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          options.tls.cert,
          '--tls-key-file',
          options.tls.key,
          '--tls-auth-clients',
          'no',
        ]
      : ['--port', String(port)];
    const r = new PrivateRedis(port, [...listen, ...(options.args ?? [])]);
    await r.start();
    return r;
  }

  get dir(): string {
    return this.#dir;
  }

  async start(): Promise<void> {
    this.#proc = spawn(
      'redis-server',
      ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir, ...this.#args],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (Date.now() > deadline) throw new Error(`private redis-server did not start on ${this.port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kill the server (SIGKILL: no goodbye to clients beyond the TCP reset) and wait until it is gone. */
  async stop(): Promise<void> {
    const p = this.#proc;
    this.#proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
