/**
 * Revoke semantics on the memory broker: the revoked set's cap and expiry (a ManualClock), the state
 * file's round trip, the remote-control handlers' replies (Celery 5.2's texts), and revoke/terminate
 * through a real worker (async and solo pools: REVOKED stored, the slot free at once, the message
 * acked). Waits on results and signals, never on sleeps.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { resolveSettings } from '../../src/app/config.js';
import { currentTask } from '../../src/index.js';
import type { WorkerScope } from '../../src/middleware/middleware.js';
import { type RevokeHooks, revoke } from '../../src/middleware/revoke.js';
import { LamportClock } from '../../src/util/lamport.js';
import { createLogger } from '../../src/util/log.js';
import { parseSignal } from '../../src/util/signum.js';
import { RevokedSet, wireSeconds } from '../../src/worker/revoked.js';
import { loadWorkerState, saveWorkerState } from '../../src/worker/state-db.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { ManualClock } from '../helpers/clock.js';
import { waitUntil } from '../helpers/services.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-revoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileSeq = 0;
const file = () => join(dir, `state-${++fileSeq}.json`);

describe('the revoked set', () => {
  it('forgets an id REVOKE_EXPIRES seconds after it was revoked', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const set = new RevokedSet({ clock });
    expect(set.expires).toBe(10_800);
    set.add('a');
    clock.advance(10_799_999);
    expect(set.has('a')).toBe(true);
    clock.advance(1);
    expect(set.has('a')).toBe(false);
    expect(set.size).toBe(0);
  });

  it('revoking an id again restarts its time, as LimitedSet.add does', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const set = new RevokedSet({ clock, expires: 10 });
    set.add('a');
    clock.advance(6000);
    set.add('b');
    set.add('a');
    clock.advance(6000);
    expect(set.ids()).toEqual(['b', 'a']);
    clock.advance(4000);
    expect(set.ids()).toEqual([]);
  });

  it('keeps at most max ids, dropping the oldest', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const set = new RevokedSet({ clock, max: 3 });
    for (const id of ['a', 'b', 'c', 'd']) {
      set.add(id);
      clock.advance(1);
    }
    expect(set.ids()).toEqual(['b', 'c', 'd']);
    expect(set.has('a')).toBe(false);
  });

  it("merges epoch seconds and Celery's [seconds, id] pairs in time order, skipping malformed ones", () => {
    const clock = new ManualClock(1_700_000_000_000);
    const set = new RevokedSet({ clock, max: 3 });
    set.add('mine');
    const r = set.merge({ old: 1_699_999_000.5, pair: [1_699_999_500.25, 'pair'], bad: 'x', worse: null });
    expect(r).toEqual({ added: 2, skipped: 2 });
    expect(set.ids()).toEqual(['old', 'pair', 'mine']);
    // Python's monotonic stamps (seconds since boot) count as revoked now, not in 1970.
    set.merge({ mono: 12_345.6 });
    expect(set.ids()).toEqual(['pair', 'mine', 'mono']);
    expect(set.toWire().mono).toBe(1_700_000_000.001);
  });

  it('sends stamps Python reads as floats (LimitedSet.update refuses ints)', () => {
    expect(wireSeconds(1_700_000_000_000)).toBe(1_700_000_000.001);
    expect(wireSeconds(1_700_000_000_250)).toBe(1_700_000_000.25);
  });

  it('reads workerRevokesMax and workerRevokeExpires from Celery’s environment variables', () => {
    const env = { CELERY_WORKER_REVOKES_MAX: '7', CELERY_WORKER_REVOKE_EXPIRES: '60' };
    expect(resolveSettings({}, env)).toMatchObject({ workerRevokesMax: 7, workerRevokeExpires: 60 });
    expect(resolveSettings({ workerRevokesMax: 9 }, env).workerRevokesMax).toBe(9);
    expect(() => resolveSettings({}, { CELERY_WORKER_REVOKES_MAX: 'lots' })).toThrow(
      /CELERY_WORKER_REVOKES_MAX must be a number/,
    );
  });
});

describe('signal names', () => {
  it('reads names with or without SIG, and numbers', () => {
    expect(parseSignal(undefined)).toEqual({ num: 15, name: 'SIGTERM' });
    expect(parseSignal('KILL')).toEqual({ num: 9, name: 'SIGKILL' });
    expect(parseSignal('SIGKILL').num).toBe(9);
    expect(parseSignal(9).name).toBe('SIGKILL');
    expect(parseSignal('2').name).toBe('SIGINT');
    expect(() => parseSignal('NOPE')).toThrow(/unknown signal "NOPE"/);
  });
});

describe('the state file', () => {
  it('round-trips the revoked ids and the clock, written through a temp file', async () => {
    const path = file();
    await saveWorkerState(path, { clock: 41, revoked: { a: 1_700_000_000.5 } });
    expect(await loadWorkerState(path)).toEqual({ clock: 41, revoked: { a: 1_700_000_000.5 } });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ format: 'celeriac-worker-state' });
  });

  it('is null before the first save; a file that is not ours is refused and left alone', async () => {
    expect(await loadWorkerState(join(dir, 'missing.json'))).toBeNull();
    const shelve = file();
    writeFileSync(shelve, Buffer.from([0x13, 0x57, 0x9a, 0xce, 0, 0, 0, 0]));
    await expect(loadWorkerState(shelve)).rejects.toThrow(/not a Celeriac worker state file \(not JSON\)/);
    expect(readFileSync(shelve).length).toBe(8);
    const other = file();
    writeFileSync(other, '{"revoked":{}}');
    await expect(loadWorkerState(other)).rejects.toThrow(/no "format" marker/);
  });
});

/** The revoke middleware's hooks for a worker that is not running (handlers called directly). */
async function hooksFor(
  settings: Record<string, unknown>,
  clock: ManualClock,
  appClock = new LamportClock(),
) {
  const calls: Array<[string[], number]> = [];
  const scope = {
    hostname: 'me@host',
    conf: resolveSettings(settings),
    logger: createLogger('error'),
    clock: appClock,
    terminate: (ids: ReadonlySet<string>, sig: { num: number }) => {
      calls.push([[...ids], sig.num]);
      return [...ids].filter((id) => id.startsWith('running'));
    },
  } as unknown as WorkerScope;
  const hooks = (await revoke({ clock }).worker?.(scope)) as RevokeHooks;
  return { hooks, calls, control: hooks.control };
}

describe('remote-control handlers', () => {
  it("revoke and terminate answer with Celery 5.2's texts", async () => {
    const { control, calls } = await hooksFor({}, new ManualClock(1_700_000_000_000));
    expect(await control.revoke?.({ task_id: 'a' })).toEqual({ ok: 'tasks a flagged as revoked' });
    expect(await control.revoke?.({ task_id: ['b', 'c'] })).toEqual({ ok: 'tasks b, c flagged as revoked' });
    expect(await control.revoke?.({ task_id: 'x', terminate: true })).toEqual({
      ok: 'terminate: tasks unknown',
    });
    expect(await control.revoke?.({ task_id: ['running-1', 'y'], terminate: true, signal: 'KILL' })).toEqual({
      ok: 'terminate: running-1',
    });
    expect(await control.terminate?.({ task_id: 'running-2', signal: 'SIGINT' })).toEqual({
      ok: 'terminate: running-2',
    });
    expect(calls).toEqual([
      [['x'], 15],
      [['running-1', 'y'], 9],
      [['running-2'], 2],
    ]);
    expect(await control.revoked?.({})).toEqual(['a', 'b', 'c', 'x', 'running-1', 'y', 'running-2']);
  });

  it('a bad signal or task id is an error and revokes nothing', async () => {
    const { control } = await hooksFor({}, new ManualClock());
    expect(() => control.revoke?.({ task_id: 'a', terminate: true, signal: 'SIGNOPE' })).toThrow(
      /unknown signal/,
    );
    expect(() => control.revoke?.({ task_id: [1] })).toThrow(/task_id must be a task id/);
    expect(await control.revoked?.({})).toEqual([]);
  });

  it('hello: no reply to itself; merges what another node sends and answers with its own and the clock', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const appClock = new LamportClock(10);
    const { control, hooks } = await hooksFor({}, clock, appClock);
    hooks.revoke('mine');
    expect(await control.hello?.({ from_node: 'me@host', revoked: { x: 1_699_999_999.5 } })).toBeNull();
    expect(hooks.isRevoked('x')).toBe(false);
    const reply = (await control.hello?.({
      from_node: 'other@host',
      revoked: { theirs: [1_699_999_999.5, 'theirs'] },
    })) as {
      revoked: Record<string, number>;
      clock: number;
    };
    expect(reply).toEqual({ revoked: { theirs: 1_699_999_999.5, mine: 1_700_000_000.001 }, clock: 11 });
    expect(hooks.isRevoked('theirs')).toBe(true);
  });

  it('a state file that cannot be written, or is not ours, stops the worker at start', async () => {
    const clock = new ManualClock();
    await expect(hooksFor({ workerStateDb: join(dir, 'no-such-dir', 'x.json') }, clock)).rejects.toThrow(
      /cannot write the worker state file .*no-such-dir/,
    );
    const foreign = file();
    writeFileSync(foreign, 'not json');
    await expect(hooksFor({ workerStateDb: foreign }, clock)).rejects.toThrow(
      /not read \(they hold pickles\)/,
    );
    expect(readFileSync(foreign, 'utf8')).toBe('not json');
  });

  it('expires and caps by the settings', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { hooks, control } = await hooksFor({ workerRevokesMax: 2, workerRevokeExpires: 60 }, clock);
    for (const id of ['a', 'b', 'c']) hooks.revoke(id);
    expect(await control.revoked?.({})).toEqual(['b', 'c']);
    clock.advance(60_000);
    expect(hooks.isRevoked('c')).toBe(false);
  });

  it('with workerStateDb: saves a second after a change and at stop, and a new worker reads it back', async () => {
    const path = file();
    const clock = new ManualClock(1_700_000_000_000);
    const first = await hooksFor({ workerStateDb: path }, clock, new LamportClock(5));
    first.hooks.revoke('kept');
    expect(clock.pending).toBe(1);
    clock.advance(1000);
    await first.hooks.save(); // waits for the write the timer started
    expect(JSON.parse(readFileSync(path, 'utf8')).revoked).toEqual({ kept: 1_700_000_000.001 });
    first.hooks.revoke('also');
    await first.hooks.stop?.();
    const appClock = new LamportClock();
    const second = await hooksFor({ workerStateDb: path }, clock, appClock);
    expect(second.hooks.isRevoked('kept')).toBe(true);
    expect(second.hooks.isRevoked('also')).toBe(true);
    expect(appClock.value).toBeGreaterThan(5);
    // Expired while the worker was down: gone.
    clock.advance(10_800_000);
    const third = await hooksFor({ workerStateDb: path }, clock);
    expect(third.hooks.isRevoked('kept')).toBe(false);
  });
});

describe('revoke in a worker', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('a revoked id that arrives later is refused at arrival, and one held for its ETA is REVOKED when due', async () => {
    t = memoryApp();
    const ran: string[] = [];
    const noop = t.app.task('rv.noop', () => void ran.push(currentTask().id));
    const w = await t.startWorker();
    expect(w.revoke('later')).toEqual({ ok: 'tasks later flagged as revoked' });
    const later = await noop.applyAsync([], { taskId: 'later' });
    await expect(later.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TaskRevokedError' });
    const eta = await noop.applyAsync([], { countdown: 0.3 });
    await waitUntil(() => (w.stats().scheduled as number) === 1, 5000, 'the ETA task to be held');
    w.revoke(eta.id);
    await expect(eta.get({ timeout: 5 })).rejects.toMatchObject({
      excType: 'TaskRevokedError',
      excMessage: ['revoked'],
    });
    expect(ran).toEqual([]);
  });

  it.each(['async', 'solo'])(
    '%s pool: terminate aborts a task that never settles, frees its slot at once, stores REVOKED and acks it',
    async (pool) => {
      t = memoryApp();
      const reasons: unknown[] = [];
      let started = 0;
      const hang = t.app.task(
        'rv.hang',
        () => {
          const { signal } = currentTask();
          signal.addEventListener('abort', () => reasons.push(signal.reason));
          started++;
          return new Promise(() => {}); // never settles
        },
        { acksLate: true },
      );
      const next = t.app.task('rv.next', () => 'ran');
      const revoked: Array<{ terminated: boolean; signum: number | null }> = [];
      t.app.on('task_revoked', (a) => void revoked.push(a));
      const w = await t.startWorker({ pool, concurrency: 1 });
      const r = await hang.delay();
      await waitUntil(() => started === 1, 5000, 'the task to start');
      const queued = await next.delay();
      expect(w.revoke(r.id, { terminate: true, signal: 'KILL' })).toEqual({ ok: `terminate: ${r.id}` });
      await expect(r.get({ timeout: 5 })).rejects.toMatchObject({
        excType: 'TaskRevokedError',
        excMessage: ['terminated'],
        excModule: 'celery.exceptions',
      });
      expect(await queued.get({ timeout: 5 })).toBe('ran');
      expect(reasons).toHaveLength(1);
      expect(reasons[0]).toMatchObject({ code: 'E_REVOKED', message: 'terminated' });
      await waitUntil(() => revoked.length === 1, 5000, 'task_revoked');
      expect(revoked[0]).toMatchObject({ terminated: true, signum: 9, expired: false });
      expect(w.pool?.active).toBe(0);
      await w.stop();
      // acksLate, yet acked: nothing went back to the queue (Celery acks terminated tasks).
      expect(await (await t.app.broker()).size('celery')).toBe(0);
    },
  );

  it('terminate of an id not running still revokes it', async () => {
    t = memoryApp();
    const noop = t.app.task('rv.noop2', () => null);
    const w = await t.startWorker();
    expect(w.revoke('nope', { terminate: true })).toEqual({ ok: 'terminate: tasks unknown' });
    const r = await noop.applyAsync([], { taskId: 'nope' });
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TaskRevokedError' });
  });
});
