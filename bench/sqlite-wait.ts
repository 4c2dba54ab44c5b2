/**
 * What an idle SQLite consumer costs, and how fast it sees a new message.
 *
 *   node --import tsx bench/sqlite-wait.ts
 *
 * 1. idle CPU: a consumer waits on an empty queue; the process's CPU time over 5 s windows, from
 *    /proc/self/stat (10 ms clock ticks) and process.cpuUsage() (microseconds), against the same process
 *    connected but not consuming (Node's own idle cost), with the -wal watch and with the fallback poll.
 * 2. pick-up latency: messages published every 100 ms (so the consumer is idle and backed off each time)
 *    by another process (wake-up through the -wal watch) and by the same process (in-process event);
 *    then again with the -wal watch off, to measure the fallback data_version poll alone.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Delivery } from '../src/brokers/broker.js';
import { createSqliteBroker } from '../src/brokers/sqlite/index.js';
import { walWatch } from '../src/drivers/sqlite/changes.js';
import type { WireMessage } from '../src/protocol/message.js';

const COUNT = 50;
const SPACING_MS = 100;
const now = () => performance.timeOrigin + performance.now();

function message(): WireMessage {
  return {
    body: Buffer.from('[[],{},{}]'),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { sentAt: now() },
    properties: { priority: 0 },
  };
}

async function produce(url: string, queue: string): Promise<void> {
  const broker = createSqliteBroker(new URL(url));
  await broker.connect();
  for (let i = 0; i < COUNT; i++) {
    await new Promise((r) => setTimeout(r, SPACING_MS));
    await broker.publish(queue, message());
  }
  await broker.close();
}

function procTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15 of the line)
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const [mode, url, queue] = process.argv.slice(2);
  if (mode === 'produce' && url && queue) return produce(url, queue);

  const dir = mkdtempSync(join(tmpdir(), 'celeriac-wait-'));
  const dbUrl = `sqlite://${join(dir, 'wait.db')}`;
  const broker = createSqliteBroker(new URL(dbUrl));
  await broker.connect();
  let latencies: number[] = [];
  let onCount: (() => void) | null = null;
  const consume = async (queue: string) =>
    broker.consume(
      [queue],
      (d: Delivery) => {
        latencies.push(now() - (d.message.headers.sentAt as number));
        void d.ack();
        if (latencies.length === COUNT) onCount?.();
      },
      { prefetch: 10 },
    );
  const collect = () => new Promise<void>((r) => (onCount = r));
  const report = (label: string) => {
    const f = (x: number) => x.toFixed(2);
    console.log(
      `${label}: p50 ${f(percentile(latencies, 50))} ms, p90 ${f(percentile(latencies, 90))} ms, p99 ${f(percentile(latencies, 99))} ms, max ${f(Math.max(...latencies))} ms`,
    );
    latencies = [];
  };

  // V8 runs a few clean-up collections about 8-10 s after start (the memory reducer); measure after them,
  // in three 5 s windows, and report the median.
  await new Promise((r) => setTimeout(r, 10_000));
  const idleCpu = async (label: string) => {
    const windows: Array<{ ticksMs: number; cpuMs: number; wallMs: number }> = [];
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < 3; i++) {
      const [t0, c0, w0] = [procTicks(), process.cpuUsage(), performance.now()];
      await new Promise((r) => setTimeout(r, 5000));
      const [t1, c1, w1] = [procTicks(), process.cpuUsage(c0), performance.now()];
      windows.push({ ticksMs: (t1 - t0) * 10, cpuMs: (c1.user + c1.system) / 1000, wallMs: w1 - w0 });
    }
    windows.sort((a, b) => a.cpuMs - b.cpuMs);
    const m = windows[1] as { ticksMs: number; cpuMs: number; wallMs: number };
    const pct = (ms: number) => ((ms / m.wallMs) * 100).toFixed(2);
    console.log(
      `idle CPU, ${label}, median of 3 x 5 s: /proc/self/stat ${m.ticksMs} ms (${pct(m.ticksMs)} %), ` +
        `cpuUsage ${m.cpuMs.toFixed(1)} ms (${pct(m.cpuMs)} %); all windows: ${windows.map((w) => w.cpuMs.toFixed(1)).join(', ')} ms`,
    );
  };
  await idleCpu('connected, no consumer (baseline)');
  for (const watch of [true, false]) {
    walWatch.enabled = watch;
    const idleConsumer = await consume(`idle-${watch}`);
    await idleCpu(`consumer waiting, ${watch ? '-wal watch + 1 s safety poll' : 'watch off: 50 ms poll'}`);
    await idleConsumer.cancel();
  }

  for (const watch of [true, false]) {
    walWatch.enabled = watch;
    const tag = watch ? '-wal watch + poll' : 'poll only (watch off)';
    const q1 = `x-${watch}`;
    const c = await consume(q1);
    const done = collect();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', process.argv[1] as string, 'produce', dbUrl, q1],
      {
        stdio: 'inherit',
      },
    );
    await done;
    await new Promise((r) => child.once('exit', r));
    report(`pick-up latency, other process, ${tag} (${COUNT} msgs, 1 per ${SPACING_MS} ms)`);
    await c.cancel();

    const q2 = `s-${watch}`;
    const c2 = await consume(q2);
    const done2 = collect();
    for (let i = 0; i < COUNT; i++) {
      await new Promise((r) => setTimeout(r, SPACING_MS));
      await broker.publish(q2, message());
    }
    await done2;
    report(`pick-up latency, same process, ${tag}`);
    await c2.cancel();
  }
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
