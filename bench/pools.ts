/**
 * Pools bench: CPU-bound tasks (SHA-256 for ~20 ms each) and I/O-bound tasks (the feed hub: fetch and
 * parse a feed from a local feed farm that answers after 100 ms, examples/feedhub), alone
 * and together, on three workers: `async -c 1000` (the event loop), `prefork -c 2` (processes), and a
 * mixed worker (`async -c 1000 --cpu-pool prefork:2`, hashing declared `{ pool: 'cpu' }`). In-process
 * memory broker and backend, so the numbers are the pools', not a broker's.
 *
 *   npx tsx bench/pools.ts [--cpu 1000] [--io 200] [--hash-ms 20] [--io-ms 100] [--out docs/benchmarks-pools.md]
 *
 * The tasks of a run are published in one batch (kinds interleaved) once the worker is ready. Reported
 * per run: wall time from that publish to the last result, throughput, when the last CPU task finished, and
 * for I/O tasks how long after the earliest possible end (publish + the farm's latency) they finished, measured
 * inside the task: the delay the pool added.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { appInternals } from '../src/task/publisher.js';
import type { AsyncResult } from '../src/task/result.js';
import type { WorkerOptions } from '../src/worker/worker.js';
import { app, hash } from './pools-app.js';

const argv = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const CPU = arg('cpu', 1000);
const IO = arg('io', 200);
const HASH_MS = arg('hash-ms', 20);
const IO_MS = arg('io-ms', 100);
const outIndex = argv.indexOf('--out');
const OUT = outIndex >= 0 ? argv[outIndex + 1] : null;
const appModule = fileURLToPath(new URL('./pools-app.ts', import.meta.url));

/** Iterations of `hash` that take about HASH_MS here: the fastest of several probes, once the JIT is warm. */
function calibrate(): number {
  let iterations = 1000;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 8; i++) {
    const t = performance.now();
    hash(iterations);
    const perIter = (performance.now() - t) / iterations;
    best = Math.min(best, perIter);
    iterations = Math.max(1000, Math.round(50 / best)); // probes of ~50 ms
  }
  return Math.max(1, Math.round(HASH_MS / best));
}

const configs: Array<{ label: string; options: WorkerOptions }> = [
  { label: 'async -c 1000', options: { pool: 'async', concurrency: 1000 } },
  { label: 'prefork -c 2', options: { pool: 'prefork', concurrency: 2 } },
  {
    label: 'mixed: async -c 1000 --cpu-pool prefork:2',
    options: { pool: 'async', concurrency: 1000, cpuPool: 'prefork:2' },
  },
];

/** With every core hashing, the worker's own loop competes for CPU: one process fewer leaves it a core. */
const mixedOne = {
  label: 'mixed: async -c 1000 --cpu-pool prefork:1',
  options: { pool: 'async', concurrency: 1000, cpuPool: 'prefork:1' } satisfies WorkerOptions,
};

interface Row {
  pool: string;
  workload: string;
  tasks: number;
  wall: number;
  cpuDone: number | null;
  /** Hashing time summed over the CPU tasks, divided by the time they took: how many cores they used. */
  parallelism: number | null;
  ioP50: number | null;
  ioP99: number | null;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** Interleave the two kinds evenly in queue order, as steady mixed traffic would arrive. */
function interleave(nCpu: number, nIo: number, iterations: number, feedUrl: (i: number) => string) {
  const calls: Array<{ name: string; args: unknown[] }> = [];
  let cpu = 0;
  let io = 0;
  while (cpu < nCpu || io < nIo) {
    if (io < nIo && (cpu >= nCpu || io / nIo <= cpu / nCpu)) {
      calls.push({ name: 'bench.io', args: [feedUrl(io)] });
      io++;
    } else {
      calls.push({ name: 'bench.hash', args: [iterations] });
      cpu++;
    }
  }
  return calls;
}

async function runWorkload(
  label: string,
  options: WorkerOptions,
  workload: 'cpu' | 'io' | 'cpu+io',
  iterations: number,
  feedUrl: (i: number) => string,
): Promise<Row> {
  const queue = `bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const nCpu = workload === 'io' ? 0 : workload === 'cpu' ? CPU : Math.round(CPU / 8);
  const nIo = workload === 'cpu' ? 0 : IO;
  const calls = interleave(nCpu, nIo, iterations, feedUrl).map((c) => ({ ...c, options: { queue } }));
  const worker = app.worker({ ...options, queues: [queue], appModule, logLevel: 'error' });
  await worker.start();
  // One batch, published once the worker is ready (children booted): the clock starts here.
  const started = performance.now();
  const startedWall = Date.now();
  const results: AsyncResult[] = await appInternals(app).publishMany(calls);
  let cpuDone = 0;
  let hashing = 0;
  const ends: number[] = [];
  await Promise.all(
    results.map(async (r, i) => {
      const value = await r.get({ timeout: 600 });
      if (calls[i]?.name === 'bench.io') ends.push(value as number);
      else {
        cpuDone = (performance.now() - started) / 1000;
        hashing += (value as number) / 1000;
      }
    }),
  );
  const wall = (performance.now() - started) / 1000;
  await worker.stop();
  // How long after the earliest possible end (publish + the farm's latency) each I/O task finished.
  const lat = ends.map((end) => end - startedWall - IO_MS).sort((x, y) => x - y);
  return {
    pool: label,
    workload,
    tasks: nCpu + nIo,
    wall,
    cpuDone: nCpu ? cpuDone : null,
    parallelism: nCpu ? hashing / cpuDone : null,
    ioP50: nIo ? pct(lat, 0.5) : null,
    ioP99: nIo ? pct(lat, 0.99) : null,
  };
}

function table(rows: Row[]): string {
  const f = (n: number | null, d = 2) => (n === null ? '–' : n.toFixed(d));
  const lines = [
    '| workload | pool | tasks | wall s | tasks/s | CPU tasks done s | cores used by CPU tasks | I/O extra latency p50 ms | p99 ms |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.workload} | ${r.pool} | ${r.tasks} | ${f(r.wall)} | ${f(r.tasks / r.wall, 0)} | ${f(r.cpuDone)} | ${f(r.parallelism)} | ${f(r.ioP50, 0)} | ${f(r.ioP99, 0)} |`,
    );
  }
  return lines.join('\n');
}

/** The feed farm in its own process, so that it never shares a loop with the worker under test. */
async function startFeedFarm(): Promise<{ feedUrl: (i: number) => string; stop(): void }> {
  const server = fileURLToPath(new URL('../examples/feedhub/server.ts', import.meta.url));
  const args = [`--feeds`, String(IO), '--latency', String(IO_MS), '--port', '0', '--prerender'];
  const child = spawn(process.execPath, [...process.execArgv, server, ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the feed farm exited (${code})`)));
  });
  return { feedUrl: (i) => `${base}/feed/${i}.xml`, stop: () => child.kill() };
}

async function main(): Promise<void> {
  const farm = await startFeedFarm();
  const iterations = calibrate();
  const load0 = loadavg()[0] ?? 0;
  process.stderr.write(
    `hash: ${iterations} iterations ≈ ${HASH_MS} ms; cpu=${CPU} feeds=${IO} at ${IO_MS} ms\n`,
  );
  // Warm-up, not reported: the JIT of the feed parser, the feed farm, and keep-alive sockets, as in a
  // worker that has been running for a while.
  await runWorkload('warm-up', configs[0]?.options ?? {}, 'io', iterations, farm.feedUrl);
  const rows: Row[] = [];
  const t0 = performance.now();
  for (const workload of ['cpu', 'io', 'cpu+io'] as const) {
    for (const c of workload === 'cpu+io' ? [...configs, mixedOne] : configs) {
      const row = await runWorkload(c.label, c.options, workload, iterations, farm.feedUrl);
      rows.push(row);
      process.stderr.write(`${workload.padEnd(7)} ${c.label.padEnd(44)} ${row.wall.toFixed(2)} s\n`);
    }
  }
  const total = (performance.now() - t0) / 1000;
  const load1 = loadavg()[0] ?? 0;
  await app.close();
  farm.stop();
  const md = table(rows);
  process.stdout.write(`${md}\n`);
  if (OUT) {
    const cmd =
      `npx tsx bench/pools.ts ${argv.filter((a, i) => a !== '--out' && argv[i - 1] !== '--out').join(' ')}`.trim();
    writeFileSync(
      OUT,
      `# Pools benchmark

Generated by \`${cmd}\` (bench/pools.ts) on ${new Date().toISOString().slice(0, 10)}: Node ${process.version},
${availableParallelism()} CPUs shared with other jobs (load average ${load0.toFixed(1)} at the start, ${load1.toFixed(1)} at the end),
in-process memory broker and backend; ${total.toFixed(0)} s in all.

Workloads: **cpu** = ${CPU} tasks of SHA-256 hashing for ~${HASH_MS} ms each (${iterations} rounds over 1 KiB);
**io** = ${IO} feed hub tasks (examples/feedhub: fetch a ~10 KB feed over HTTP from a local feed farm, in
its own process, that answers after ${IO_MS} ms, then parse it); **cpu+io** = ${Math.round(CPU / 8)} hashing
tasks and ${IO} feed tasks together. The tasks of a run are published in one batch (kinds interleaved) once
the worker is ready (children booted), and times count from that publish. "Cores used" is the hashing time
summed over the CPU tasks divided by the time they took. "I/O extra latency" is how long after the earliest
possible end (publish + ${IO_MS} ms) a feed task finished: the delay the pool added.

${md}

Reading it: \`async\` overlaps every wait, so it finishes the I/O work many times sooner
than \`prefork -c 2\`, which runs two waits at a time. But \`async\` hashes on one core at most, and while
it hashes, every waiting task waits too (see the cpu+io latency). \`prefork -c 2\` hashes on up to two
cores. The mixed worker does both: it hashes in processes and waits on the loop. When every core is busy
hashing, the worker's own loop competes with its children for CPU. A CPU pool one process smaller than
the core count (\`prefork:1\` here) keeps I/O latency lowest. On a shared machine (see the load average),
"cores used" shows how much CPU each pool actually got. Hashing finishes sooner in processes only when
cores are free: when other jobs keep the cores busy, each process gets a share of a core, and every hash
takes longer.
`,
    );
  }
}

await main();
