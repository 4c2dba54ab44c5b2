/**
 * What the chaos cases share: `celeriac worker` processes of test/chaos/app.ts (spawned as the
 * integration tests do, killed with SIGKILL), a producer, and the tally of runs each task recorded in the
 * shared Redis (a hash per run phase under a unique prefix, deleted after). Lost = sent ids that never
 * completed; duplicated = completions beyond the first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { Celeriac } from '../../src/index.js';
import { deletePrefix, rawClient } from '../helpers/redis.js';
import { uniq, waitUntil } from '../helpers/services.js';

const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const appModule = fileURLToPath(new URL('./app.ts', import.meta.url));

export interface WorkerSpec {
  broker: string;
  queue: string;
  prefix: string;
  acksLate?: boolean;
  concurrency?: number;
  prefetchMultiplier?: number;
  results?: string;
  env?: Record<string, string>;
}

export class ChaosWorker {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  #out = '';
  #ready = false;

  constructor(spec: WorkerSpec) {
    const args = [bin, '-A', appModule, 'worker', '-l', 'info', '-Q', spec.queue];
    args.push('-c', String(spec.concurrency ?? 4));
    args.push('--prefetch-multiplier', String(spec.prefetchMultiplier ?? 1));
    this.proc = spawn(process.execPath, args, {
      env: {
        ...process.env,
        CELERIAC_BROKER_URL: spec.broker,
        CELERIAC_RESULT_BACKEND: spec.results ?? '',
        CHAOS_RESULTS: spec.results ? '1' : '0',
        CHAOS_PREFIX: spec.prefix,
        CHAOS_ACKS_LATE: spec.acksLate === false ? '0' : '1',
        ...spec.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      this.#out = (this.#out + String(d)).slice(-20_000);
      // Remembered apart: the line scrolls out of the kept tail under a busy log.
      if (!this.#ready && / ready: /.test(this.#out)) this.#ready = true;
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  get output(): string {
    return this.#out;
  }

  ready(timeoutMs = 30_000): Promise<void> {
    return waitUntil(() => this.#ready, timeoutMs, `worker ready; output: ${this.#out.slice(-500)}`);
  }

  async kill9(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** Warm shutdown; SIGKILL if it takes longer than `ms`. */
  async stop(ms = 15_000): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(t);
  }
}

/** The runs of one case, counted in the shared Redis. */
export class Tally {
  readonly prefix = uniq('chaos');
  readonly #redis: Redis = rawClient();

  async #counts(phase: 'start' | 'done'): Promise<Map<number, number>> {
    const h = await this.#redis.hgetall(`${this.prefix}:${phase}`);
    return new Map(Object.entries(h).map(([k, v]) => [Number(k), Number(v)]));
  }
  async done(): Promise<number> {
    return this.#redis.hlen(`${this.prefix}:done`);
  }
  async completions(): Promise<number> {
    const m = await this.#counts('done');
    let n = 0;
    for (const v of m.values()) n += v;
    return n;
  }
  async started(): Promise<Map<number, number>> {
    return this.#counts('start');
  }
  /** Lost and duplicated among ids 0..sent-1. */
  async outcome(sent: number): Promise<{ lost: number; duplicated: number; lostIds: number[] }> {
    const m = await this.#counts('done');
    const lostIds: number[] = [];
    let duplicated = 0;
    for (let i = 0; i < sent; i++) {
      const c = m.get(i) ?? 0;
      if (c === 0) lostIds.push(i);
      else duplicated += c - 1;
    }
    return { lost: lostIds.length, duplicated, lostIds };
  }
  async dispose(): Promise<void> {
    await deletePrefix(this.prefix).catch(() => {});
    this.#redis.disconnect();
  }
}

/** Publish `n` chaos.work tasks (ids 0..n-1, each sleeping `ms`) to `queue`. */
export async function publish(broker: string, queue: string, n: number, ms: number, from = 0): Promise<void> {
  const app = new Celeriac({ broker, taskIgnoreResult: true });
  try {
    for (let i = from; i < from + n; i++) await app.sendTask('chaos.work', [i, ms], {}, { queue });
  } finally {
    await app.close();
  }
}

/** Wait until every one of `sent` ids completed at least once (or the time is up). */
export async function drained(tally: Tally, sent: number, timeoutMs: number): Promise<boolean> {
  try {
    await waitUntil(async () => (await tally.done()) >= sent, timeoutMs, 'all tasks done');
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `check` or `timeoutMs`; the time it took, or null. */
export async function timeUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await check()) return Date.now() - t0;
    await sleep(20);
  }
  return null;
}

export const median = (xs: number[]): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? null;
};
