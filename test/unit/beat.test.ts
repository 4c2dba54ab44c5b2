/**
 * Beat with the memory store and injected clocks: leadership, takeover after lease expiry, fenced
 * claims of a stale leader, missed slots sent once, restarts that neither repeat nor skip, removed
 * entries dropped, and the slot arithmetic.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Beat } from '../../src/beat/beat.js';
import type { BeatEntry } from '../../src/beat/entries.js';
import { MemoryBeatStore } from '../../src/beat/memory-store.js';
import { parseSchedule } from '../../src/beat/schedule.js';
import { dueSlot, slotTaskId } from '../../src/beat/slots.js';
import { Celeriac } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import { ManualClock } from '../helpers/clock.js';

const T0 = 1_700_000_000_000; // a whole second
const entry = (name = 'tick', seconds = 1): BeatEntry => ({
  name,
  task: 'beat.tick',
  schedule: parseSchedule(seconds, 'UTC', `entry ${name}`),
  args: [1],
  kwargs: { k: 'v' },
  options: { queue: 'beat-q' },
  relative: false,
});

const apps: Celeriac[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function setup() {
  const clock = new ManualClock(T0);
  const store = new MemoryBeatStore(() => clock.now());
  const app = new Celeriac({ broker: 'memory://', backend: 'memory://' });
  apps.push(app);
  const lines: string[] = [];
  const beat = (name: string, entries = [entry()], c: ManualClock = clock) =>
    new Beat(app, { entries, store, clock: c, name, logger: createLogger('info', (l) => lines.push(l)) });
  return { clock, store, app, beat, lines };
}

/** Advance in 100 ms steps to `until`, ticking the given beats at each step. */
async function run(clock: ManualClock, until: number, beats: Beat[]): Promise<void> {
  while (clock.now() < until) {
    clock.advance(100);
    for (const b of beats) await b.tick();
  }
}

const dues = (beats: Beat[]) => beats.flatMap((b) => b.sent.map((s) => s.due)).sort((x, y) => x - y);
const seconds = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => T0 + (from + i) * 1000);

describe('beat', () => {
  it('one leader among three; each slot is sent once, as an ordinary message with the slot’s id', async () => {
    const { clock, beat, app } = setup();
    const beats = [beat('a'), beat('b'), beat('c')];
    for (const b of beats) await b.tick();
    expect(beats.map((b) => b.isLeader)).toEqual([true, false, false]);
    await run(clock, T0 + 10_000, beats);
    expect(dues(beats)).toEqual(seconds(1, 10));
    expect(beats[1]?.sent).toEqual([]);
    const broker = await app.broker();
    expect(await broker.size('beat-q')).toBe(10);
    const ids = beats[0]?.sent.map((s) => s.id) ?? [];
    expect(new Set(ids).size).toBe(10);
    expect(ids[0]).toBe(slotTaskId('tick', T0 + 1000));
  });

  it('a leader that stops ticking is replaced once its lease expires; the gap’s slots are sent once', async () => {
    const { clock, beat } = setup();
    const a = beat('a');
    const b = beat('b');
    await a.tick();
    await b.tick();
    await run(clock, T0 + 3000, [a, b]);
    // a is paused (SIGSTOP, a GC stall): only b ticks.
    let takeover = 0;
    while (!b.isLeader) {
      clock.advance(100);
      await b.tick();
      takeover = clock.now();
    }
    // Its last renewal was at most a third of the lease before the pause; the lease is 5 s.
    expect(takeover - (T0 + 3000)).toBeLessThanOrEqual(5000 + 1000);
    expect(takeover - (T0 + 3000)).toBeGreaterThanOrEqual(5000 - 5000 / 3);
    await run(clock, T0 + 12_000, [b]);
    const all = dues([a, b]);
    expect(new Set(all).size).toBe(all.length); // no duplicates
    expect(all.slice(0, 3)).toEqual(seconds(1, 3));
    // The slots due while nobody led collapse into one: the latest at takeover.
    const afterGap = b.sent.map((s) => s.due);
    expect(afterGap[0]).toBe(Math.floor(takeover / 1000) * 1000);
    expect(afterGap.slice(1)).toEqual(seconds((afterGap[0] as number) / 1000 - T0 / 1000 + 1, 12));
  });

  it('a paused former leader whose lease expired cannot claim: the store fences it by token', async () => {
    const { clock, beat, lines } = setup();
    const frozen = new ManualClock(T0); // a's own view of time stops while it is paused
    const a = beat('a', [entry()], frozen);
    const b = beat('b');
    await a.tick();
    expect(a.isLeader).toBe(true);
    clock.advance(6000); // the store's time (and b's) goes on: a's lease expires
    await b.tick();
    expect(b.isLeader).toBe(true);
    // a wakes up believing it still leads (1.2 s into its lease, before its first renewal) with a slot due.
    frozen.advance(1200);
    await a.tick();
    expect(a.sent).toEqual([]);
    expect(a.isLeader).toBe(false);
    expect(lines.some((l) => /a is no longer the leader: the store refused the claim/.test(l))).toBe(true);
  });

  it('missed slots during downtime run once on return; a restart neither repeats nor skips a slot', async () => {
    const { clock, beat, lines } = setup();
    const a = beat('a');
    await a.tick();
    await run(clock, T0 + 3500, [a]);
    await a.stop(); // releases the lease
    expect(dues([a])).toEqual(seconds(1, 3));
    // Restart right away: the next slot is 4, nothing repeated.
    const b = beat('b');
    await run(clock, T0 + 5500, [b]);
    expect(dues([b])).toEqual(seconds(4, 5));
    await b.stop();
    // Everything down for 5 s (slots 6..10 missed), then back: slot 10 once, then 11, 12.
    clock.advance(5000);
    const c = beat('c');
    await c.tick();
    await run(clock, T0 + 12_500, [c]);
    expect(dues([c])).toEqual([T0 + 10_000, ...seconds(11, 12)]);
    const iso = (ms: number) => new Date(ms).toISOString();
    const missed = `c: tick missed slots from ${iso(T0 + 6000)}; sending the latest (${iso(T0 + 10_000)}) once`;
    expect(lines.some((l) => l.includes(missed))).toBe(true);
  });

  it('a new entry gets a baseline, so a leader that dies before its first slot does not make the next skip it', async () => {
    const { clock, beat } = setup();
    const a = beat('a', [entry('slow', 10)]);
    await a.tick(); // baseline T0
    clock.advance(20_500); // a died before the first slot (T0+10s); 2 slots missed
    const b = beat('b', [entry('slow', 10)]);
    await b.tick();
    expect(b.sent.map((s) => s.due)).toEqual([T0 + 20_000]);
  });

  it('entries removed from code are dropped from the state when a beat takes the lead', async () => {
    const { clock, beat, store } = setup();
    const a = beat('a', [entry('tick'), entry('old')]);
    await a.tick();
    await run(clock, T0 + 1500, [a]);
    await a.stop();
    expect([...(await store.lastRuns()).keys()].sort()).toEqual(['old', 'tick']);
    const b = beat('b', [entry('tick')]);
    await b.tick();
    expect([...(await store.lastRuns()).keys()]).toEqual(['tick']);
  });

  it('the loop is contained: a failing pass is logged with context and retried, then sending goes on', async () => {
    const { clock, store, beat, lines } = setup();
    let fail = 1;
    const claim = store.claim.bind(store);
    store.claim = async (...a) => {
      if (fail-- > 0) throw new Error('store down');
      return claim(...a);
    };
    const a = beat('a');
    await a.start();
    for (let i = 0; i < 40; i++) {
      clock.advance(100);
      await new Promise((r) => setImmediate(r));
    }
    await a.stop();
    expect(lines.some((l) => /a: beat pass failed \(1 in a row, leader=true\).*store down/s.test(l))).toBe(
      true,
    );
    expect(a.sent.length).toBeGreaterThanOrEqual(3);
  });
});

describe('slots', () => {
  const every = parseSchedule(1, 'UTC', 'test');
  it('dueSlot: none before the first slot, the latest after many', () => {
    expect(dueSlot(every, T0, T0 + 999)).toBe(null);
    expect(dueSlot(every, T0, T0 + 1000)).toBe(T0 + 1000);
    expect(dueSlot(every, T0, T0 + 86_400_500)).toBe(T0 + 86_400_000);
  });
  it('slot ids are uuid5(NAMESPACE_URL, "celeriac-beat:<due ms>:<entry>"), as Python computes them', () => {
    // python3 -c "import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, 'celeriac-beat:1000:tick'))"
    expect(slotTaskId('tick', 1000)).toBe('95b24f95-0533-5fbe-b115-2bd471474f4f');
  });
});
