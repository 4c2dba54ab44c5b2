/**
 * Beat end to end, on Redis and on SQLite at once (two concurrent tests): three `celeriac beat`
 * processes share one 1 s entry.
 *  1. ~20 s with three beats: every slot is sent exactly once (counted by task id and by slot);
 *  2. SIGKILL of the leader: another takes over within the lease (3 s here; measured and printed), and
 *     the slots due while nobody led are sent once, by the new leader (the documented window);
 *  3. all beats stopped for 5 s, then three restarted: the missed slots are sent once.
 * Messages are counted by draining the queue with a consumer; ids map back to slots through
 * slotTaskId. Isolation: a unique queue, Redis key prefix on db 10, a temp SQLite file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { slotTaskId } from '../../src/beat/slots.js';
import type { Consumer } from '../../src/brokers/broker.js';
import { Celeriac } from '../../src/index.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { uniq, waitUntil } from '../helpers/services.js';

const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/apps/beat.ts', import.meta.url));
const LEASE = 3;

interface BeatProc {
  proc: ChildProcess;
  lines: { at: number; text: string }[];
  exited: Promise<void>;
}

const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

function startBeat(env: NodeJS.ProcessEnv): BeatProc {
  const proc = spawn(process.execPath, [bin, 'beat', '-A', fixture, '-l', 'info'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  const lines: BeatProc['lines'] = [];
  const onData = (d: Buffer) => {
    for (const text of String(d).split('\n')) if (text) lines.push({ at: Date.now(), text });
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return { proc, lines, exited };
}

/** SIGTERM: a warm stop, which releases the lease. */
async function terminate(beats: BeatProc[]): Promise<void> {
  for (const b of beats) b.proc.kill('SIGTERM');
  await Promise.all(beats.map((b) => b.exited));
}

const leaderAt = (b: BeatProc, after = 0) =>
  b.lines.find((l) => l.at >= after && / is now the leader /.test(l.text))?.at ?? null;
const isLeaderNow = (b: BeatProc) => {
  const last = b.lines.filter((l) => /is now the leader|is no longer the leader/.test(l.text)).pop();
  return !!last && /is now the leader/.test(last.text);
};

async function scenario(label: string, brokerUrl: string): Promise<void> {
  const queue = uniq('beat-q');
  const env = {
    ...process.env,
    CELERIAC_BROKER_URL: brokerUrl,
    CELERIAC_RESULT_BACKEND: '',
    BEAT_QUEUE: queue,
    BEAT_LEASE: String(LEASE),
  };
  const counter = new Celeriac({ broker: brokerUrl, backend: null });
  const broker = await counter.broker();
  const got: { id: string; at: number }[] = [];
  const consumer: Consumer = await broker.consume(
    [queue],
    (d) => {
      got.push({ id: String(d.message.headers.id), at: Date.now() });
      void d.ack();
    },
    { prefetch: 0 },
  );
  const t0 = Date.now();
  const count = (after: number) => got.filter((g) => g.at >= after).length;
  try {
    // 1. three beats, ~20 slots.
    let beats = [startBeat(env), startBeat(env), startBeat(env)];
    await waitUntil(() => beats.some((b) => leaderAt(b) !== null), 30_000, `${label}: a leader`);
    const firstAt = Date.now();
    await waitUntil(() => count(firstAt) >= 20, 30_000, `${label}: 20 slots`);
    // 2. SIGKILL the leader.
    const leader = beats.find(isLeaderNow) as BeatProc;
    const killedAt = Date.now();
    leader.proc.kill('SIGKILL');
    await leader.exited;
    const others = beats.filter((b) => b !== leader);
    await waitUntil(() => others.some((b) => leaderAt(b, killedAt) !== null), 15_000, `${label}: takeover`);
    const takeover =
      Math.min(...others.map((b) => leaderAt(b, killedAt) ?? Number.POSITIVE_INFINITY)) - killedAt;
    const tookAt = Date.now();
    await waitUntil(() => count(tookAt) >= 3, 15_000, `${label}: slots after takeover`);
    // 3. all down for 5 s (the downtime is the point of this step), then three again.
    await terminate(others);
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    beats = [startBeat(env), startBeat(env), startBeat(env)];
    const upAt = Date.now();
    await waitUntil(() => count(upAt) >= 4, 30_000, `${label}: slots after the restart`);
    await terminate(beats);
    // Drain: everything sent is consumed.
    await waitUntil(async () => (await broker.size(queue)) === 0, 10_000, `${label}: drained`);

    // Map ids back to slots.
    const slotOf = new Map<string, number>();
    for (let s = Math.floor(t0 / 1000) * 1000 - 10_000; s < Date.now() + 10_000; s += 1000)
      slotOf.set(slotTaskId('tick', s), s);
    const unknown = got.filter((g) => !slotOf.has(g.id));
    expect(unknown).toEqual([]);
    const byId = new Map<string, number>();
    for (const g of got) byId.set(g.id, (byId.get(g.id) ?? 0) + 1);
    const dupIds = [...byId.values()].filter((n) => n > 1).length;
    const slots = got.map((g) => slotOf.get(g.id) as number).sort((a, b) => a - b);
    const bySlot = new Map<number, number>();
    for (const s of slots) bySlot.set(s, (bySlot.get(s) ?? 0) + 1);
    const dupSlots = [...bySlot.values()].filter((n) => n > 1).length;
    const uniqueSlots = [...bySlot.keys()];
    // Gaps between consecutive sent slots: one at the takeover, one over the downtime; none elsewhere.
    const gaps: { after: number; missing: number }[] = [];
    for (let i = 1; i < uniqueSlots.length; i++) {
      const d = ((uniqueSlots[i] as number) - (uniqueSlots[i - 1] as number)) / 1000;
      if (d > 1) gaps.push({ after: uniqueSlots[i - 1] as number, missing: d - 1 });
    }
    const inTakeover = gaps.filter((g) => g.after >= killedAt - 1000 && g.after < killedAt + takeover);
    const inDowntime = gaps.filter((g) => g.after >= downAt - 2000 && g.after < upAt + 1000);
    const elsewhere = gaps.filter((g) => !inTakeover.includes(g) && !inDowntime.includes(g));
    const before = uniqueSlots.filter((s) => s < killedAt - 1000).length;
    process.stdout.write(
      `[beat ${label}] sent=${got.length} unique slots=${uniqueSlots.length} duplicates by id=${dupIds} by slot=${dupSlots} ` +
        `lost outside the windows=${elsewhere.reduce((n, g) => n + g.missing, 0)} (three-beat phase: ${before} slots, 0 gaps) ` +
        `takeover after SIGKILL=${takeover} ms (lease ${LEASE} s) slots coalesced at takeover=${inTakeover.reduce((n, g) => n + g.missing, 0)} ` +
        `missed during 5 s downtime sent once (coalesced ${inDowntime.reduce((n, g) => n + g.missing, 0)})\n`,
    );
    expect(dupIds).toBe(0);
    expect(dupSlots).toBe(0);
    expect(elsewhere).toEqual([]);
    expect(before).toBeGreaterThanOrEqual(19);
    expect(takeover).toBeLessThanOrEqual(LEASE * 1000 + 1500);
    // The takeover window coalesces at most lease + one acquire poll of slots into one send.
    expect(inTakeover.reduce((n, g) => n + g.missing, 0)).toBeLessThanOrEqual(LEASE + 2);
    // The downtime: ≥ 5 missed slots, sent once (one gap, then consecutive slots again).
    expect(inDowntime).toHaveLength(1);
    expect(inDowntime[0]?.missing).toBeGreaterThanOrEqual(4);
  } finally {
    await consumer.cancel();
    await counter.close();
  }
}

describe('celeriac beat --list', () => {
  it('prints each entry with its next five run times; --json for Python', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'celeriac-beat-')), 'list.db');
    const env = { ...process.env, CELERIAC_BROKER_URL: `sqlite://${db}`, CELERIAC_RESULT_BACKEND: '' };
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, [bin, 'beat', '-A', fixture, ...args], { env });
        let out = '';
        p.stdout.on('data', (d) => {
          out += d;
        });
        p.on('close', (code) => resolve({ code, out }));
      });
    const json = await run(['--list', '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out) as {
      timezone: string;
      entries: { name: string; next: string[]; lastRun: null }[];
    };
    expect(parsed.timezone).toBe('UTC');
    expect(parsed.entries.map((e) => e.name)).toEqual(['tick']);
    const next = parsed.entries[0]?.next ?? [];
    expect(next).toHaveLength(5);
    expect(next.every((t) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/.test(t))).toBe(true);
    expect(Date.parse(next[1] as string) - Date.parse(next[0] as string)).toBe(1000);
    const text = await run(['--list']);
    expect(text.out).toContain('tick: beat.tick every 1s');
    expect(text.out.match(/ {2}next: /g)).toHaveLength(5);
  });
});

describe('beat: three processes, exactly once per slot', () => {
  it.concurrent('sqlite', { timeout: 120_000 }, async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'celeriac-beat-')), 'beat.db');
    await scenario('sqlite', `sqlite://${db}`);
  });
  it.skipIf(skipRedis).concurrent('redis', { timeout: 120_000 }, async () => {
    const prefix = `${uniq('beat')}:`;
    try {
      await scenario('redis', `redis://127.0.0.1:6379/10?global_keyprefix=${encodeURIComponent(prefix)}`);
    } finally {
      await deletePrefix(prefix, 10);
    }
  });
});
