/**
 * What a run stands on, probed rather than assumed: whether a broker's port answers, the version of
 * every system and broker that ran (the report's machine table), and the machine itself (CPU, RAM, OS,
 * load average). run.ts asks before measuring (reachable) and after (collectVersions, describeMachine).
 */
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import Database from 'better-sqlite3';
import { capture } from './proc.js';
import type { Meta } from './report.js';
import { type BrokerId, ROOT, SYSTEM_IDS, SYSTEMS } from './systems.js';

/** Host and port of an amqp:// URL answer a TCP connect within 2 s. */
export function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = createConnection({ host: u.hostname, port: Number(u.port || 5672), timeout: 2000 });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.once('timeout', () => done(false));
  });
}

async function rabbitVersion(url: string): Promise<string> {
  try {
    const conn = await amqp.connect(url);
    const v = conn.connection.serverProperties.version;
    await conn.close();
    return `RabbitMQ ${v ?? '?'}`;
  } catch {
    return '?';
  }
}

function sqliteVersion(): string {
  const db = new Database(':memory:');
  try {
    const { v } = db.prepare('SELECT sqlite_version() AS v').get() as { v: string };
    const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as {
      version: string;
    };
    return `SQLite ${v} (better-sqlite3 ${pkg.version})`;
  } finally {
    db.close();
  }
}

/** The load average (1, 5, 15 min) as the report prints it. */
export function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
}

/** What ran, where, with which versions: Node, Python, Redis, the brokers that ran and every system. */
export async function collectVersions(
  brokers: ReadonlySet<BrokerId>,
  redisUrl: string,
  amqpUrl: string,
  withBaseline: boolean,
): Promise<Record<string, string>> {
  const versions: Record<string, string> = { node: process.versions.node };
  versions.python =
    (await capture('/usr/bin/python3', ['-c', 'import platform; print(platform.python_version())'])) || '?';
  versions.redis =
    ((await capture('redis-cli', ['-u', redisUrl, 'info', 'server'])).match(/redis_version:(\S+)/) ??
      [])[1] ?? '?';
  if (brokers.has('amqp')) versions.rabbitmq = await rabbitVersion(amqpUrl);
  if (brokers.has('sqlite')) versions.sqlite = sqliteVersion();
  for (const s of SYSTEM_IDS) versions[s] = (await SYSTEMS[s].version().catch(() => '')) || '?';
  if (withBaseline)
    versions['celeriac-base'] = (await SYSTEMS['celeriac-base'].version().catch(() => '')) || '?';
  return versions;
}

/** The machine, for the report's table; the load average after the run is taken at the end of this call. */
export async function describeMachine(loadBefore: string): Promise<Meta['machine']> {
  const osRelease = readFileSync('/etc/os-release', 'utf8').match(/PRETTY_NAME="([^"]+)"/)?.[1] ?? 'Linux';
  return {
    nproc: (await capture('nproc', [])) || String(cpus().length),
    cpu: cpus()[0]?.model ?? '?',
    ramGiB: (totalmem() / 2 ** 30).toFixed(1),
    os: `${osRelease}, kernel ${(await capture('uname', ['-r'])) || '?'}`,
    loadBefore,
    loadAfter: loadAverage(),
  };
}
