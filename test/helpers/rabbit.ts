/**
 * RabbitMQ helpers for integration tests: a private vhost per test file (rabbitmqctl), and a private
 * RabbitMQ node on free ports for tests that must restart the broker (never the shared one on 5672).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { portOpen, uniq } from './services.js';

const run = promisify(execFile);

export const RABBIT_PORT = 5672;

/**
 * Debian's /usr/sbin wrappers switch to the rabbitmq user (and its Erlang cookie); a private node runs the
 * real scripts as us instead, with HOME in its temp dir so that its cookie is its own.
 */
const LIB_BIN = '/usr/lib/rabbitmq/bin';
const bin = (name: string, privateNode: boolean) =>
  privateNode && existsSync(join(LIB_BIN, name)) ? join(LIB_BIN, name) : name;

async function ctl(args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run(bin('rabbitmqctl', !!env), args, {
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return stdout;
}

/**
 * A fresh vhost that guest may use, or '/' when rabbitmqctl is not usable here (the tests then rely on
 * unique queue names alone). `drop()` deletes it with everything in it.
 */
export async function privateVhost(): Promise<{ vhost: string; url: string; drop(): Promise<void> }> {
  const vhost = uniq('celeriac-test');
  try {
    await ctl(['add_vhost', vhost]);
    await ctl(['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
  } catch {
    return { vhost: '/', url: `amqp://guest:guest@127.0.0.1:${RABBIT_PORT}/`, drop: async () => {} };
  }
  return {
    vhost,
    url: `amqp://guest:guest@127.0.0.1:${RABBIT_PORT}/${encodeURIComponent(vhost)}`,
    drop: async () => {
      await ctl(['delete_vhost', vhost]).catch(() => {});
    },
  };
}

/** Force-close the connections whose client-provided name is `name` (on the shared node). */
export async function closeConnectionsNamed(name: string, node?: string): Promise<number> {
  const nodeArgs = node ? ['-n', node] : [];
  const out = await ctl([...nodeArgs, '-q', 'list_connections', 'pid', 'client_properties']);
  let n = 0;
  for (const line of out.split('\n')) {
    if (!line.includes(`"${name}"`)) continue;
    const pid = line.split('\t')[0];
    if (!pid) continue;
    await ctl([...nodeArgs, 'close_connection', pid, 'test: forced close']);
    n++;
  }
  return n;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A private RabbitMQ node (own name, ports, data and log directories in a temp dir), so a test can stop
 * and start it without touching the shared broker.
 */
export class PrivateRabbit {
  readonly node: string;
  readonly port: number;
  readonly #dir: string;
  readonly #env: NodeJS.ProcessEnv;

  private constructor(port: number, distPort: number) {
    this.node = `celeriac-test-${process.pid}-${port}@localhost`;
    this.port = port;
    this.#dir = mkdtempSync(join(tmpdir(), 'celeriac-rabbit-'));
    this.#env = {
      HOME: this.#dir,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_MNESIA_BASE: join(this.#dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.#dir, 'log'),
      RABBITMQ_PID_FILE: join(this.#dir, 'node.pid'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.#dir, 'enabled_plugins'),
      RABBITMQ_CONFIG_FILE: join(this.#dir, 'none'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(this.#dir, 'advanced.config'),
    };
  }

  static async create(): Promise<PrivateRabbit> {
    return new PrivateRabbit(await freePort(), await freePort());
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}/`;
  }

  /** Start the node and resolve once its AMQP port accepts connections (about 5–10 s). */
  async start(timeoutMs = 90_000): Promise<void> {
    await run(bin('rabbitmq-server', true), ['-detached'], {
      env: { ...process.env, ...this.#env },
      cwd: this.#dir,
      timeout: 30_000,
    });
    const deadline = Date.now() + timeoutMs;
    while (!(await portOpen(this.port))) {
      if (Date.now() > deadline) throw new Error(`private RabbitMQ on ${this.port} did not open its port`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stop the node (the Erlang VM exits); its data directory stays, so durable queues survive. */
  async stop(): Promise<void> {
    await ctl(['-n', this.node, 'stop'], this.#env).catch(() => {});
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  ctl(args: string[]): Promise<string> {
    return ctl(['-n', this.node, ...args], this.#env);
  }
}

/**
 * A private vhost for the calling test file: created before its tests, deleted after them (unless
 * `skip`). Returns the vhost's amqp:// URL; calling it when the vhost was not created throws.
 */
export function usePrivateVhost(skip: boolean): () => string {
  let vhost: Awaited<ReturnType<typeof privateVhost>> | null = null;
  beforeAll(async () => {
    if (!skip) vhost = await privateVhost();
  }, 60_000);
  afterAll(async () => {
    await vhost?.drop();
  }, 60_000);
  return () => {
    if (!vhost) throw new Error('no private vhost (RabbitMQ unavailable?)');
    return vhost.url;
  };
}

/**
 * Apply a policy (e.g. `{ 'max-length': 3, overflow: 'reject-publish' }`) to the queues matching `pattern`
 * in the vhost of `url`; false when rabbitmqctl is not usable here or the vhost is the shared '/'.
 */
export async function setQueuePolicy(
  url: string,
  name: string,
  pattern: string,
  definition: Record<string, unknown>,
): Promise<boolean> {
  const vhost = decodeURIComponent(new URL(url).pathname.slice(1));
  if (vhost === '' || vhost === '/') return false;
  try {
    await ctl(['set_policy', '-p', vhost, '--apply-to', 'queues', name, pattern, JSON.stringify(definition)]);
    return true;
  } catch {
    return false;
  }
}
