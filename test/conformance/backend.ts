/**
 * The result backend conformance suite: every ResultBackend adapter runs it. The factory returns a new
 * backend on an isolated namespace; `create()` twice gives two connections to the same store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ResultBackend } from '../../src/backends/backend.js';
import { ChordError } from '../../src/errors.js';
import { buildMeta, type ResultMeta } from '../../src/protocol/result.js';
import { uniq } from '../helpers/services.js';

export interface BackendHarness {
  create(): Promise<ResultBackend>;
  cleanup?(): Promise<void>;
}

const meta = (id: string, status: string, result: unknown): ResultMeta =>
  buildMeta(id, status, result, null, new Date());

export function backendConformance(
  label: string,
  harness: () => Promise<BackendHarness>,
  /** `skip`: the service is down (skipUnless: true only outside CI). What the backend supports comes from its `capabilities`. */
  opts: { skip?: boolean } = {},
): void {
  describe.skipIf(opts.skip)(`backend conformance: ${label}`, () => {
    const open: ResultBackend[] = [];
    let h: BackendHarness;
    const make = async () => {
      h ??= await harness();
      const b = await h.create();
      await b.connect();
      open.push(b);
      return b;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close().catch(() => {})));
      await h?.cleanup?.();
    });

    it('returns null for an unknown id and round-trips a meta', async () => {
      const b = await make();
      const id = uniq('t');
      expect(await b.get(id)).toBeNull();
      const m = { ...meta(id, 'SUCCESS', { a: [1, 'é'] }), children: [] };
      await b.store(m, { expires: 60 });
      expect(await b.get(id)).toEqual(m);
    });

    it('wakes a waiter when another connection stores a ready state, not before', async () => {
      const [waiter, writer] = [await make(), await make()];
      const id = uniq('w');
      const pending = waiter.waitFor(id, { timeoutMs: 10_000 });
      await writer.store(meta(id, 'STARTED', { pid: 1 }), { expires: 60 });
      await writer.store(meta(id, 'SUCCESS', 42), { expires: 60 });
      const got = await pending;
      expect(got?.status).toBe('SUCCESS');
      expect(got?.result).toBe(42);
    });

    it('resolves at once when the result is already there, and null on timeout', async () => {
      const b = await make();
      const id = uniq('t');
      await b.store(
        meta(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['boom'], exc_module: 'builtins' }),
        { expires: 60 },
      );
      expect((await b.waitFor(id, { timeoutMs: 1000 }))?.status).toBe('FAILURE');
      expect(await b.waitFor(uniq('none'), { timeoutMs: 50, intervalMs: 10 })).toBeNull();
    });

    it('serves a thousand concurrent waiters', async () => {
      const [waiter, writer] = [await make(), await make()];
      const ids = Array.from({ length: 1000 }, () => uniq('many'));
      const waits = ids.map((id) => waiter.waitFor(id, { timeoutMs: 20_000, intervalMs: 50 }));
      for (const id of ids) await writer.store(meta(id, 'SUCCESS', id), { expires: 60 });
      const got = await Promise.all(waits);
      expect(got.map((m) => m?.result)).toEqual(ids);
    });

    it('forgets a result', async () => {
      const b = await make();
      const id = uniq('f');
      await b.store(meta(id, 'SUCCESS', 1), { expires: 60 });
      await b.forget(id);
      expect(await b.get(id)).toBeNull();
    });

    it('saves and reads a group', async (ctx) => {
      const b = await make();
      ctx.skip(!b.capabilities.groups, `${label}: no capabilities.groups`);
      const gid = uniq('g');
      await b.saveGroup(gid, ['a', 'b', 'c'], { expires: 60 });
      expect(await b.getGroup(gid)).toEqual(['a', 'b', 'c']);
      expect(await b.getGroup(uniq('nog'))).toBeNull();
    });

    const counts = (b: ResultBackend) =>
      b.capabilities.chords === 'native' || b.capabilities.chords === 'counter';

    it('declares chord methods consistently with capabilities.chords', async () => {
      const b = await make();
      expect(['native', 'counter', 'unlock', false]).toContain(b.capabilities.chords);
      expect(typeof b.prepareChord === 'function').toBe(counts(b));
      expect(typeof b.chordPartReturn === 'function').toBe(counts(b));
    });

    it('completes a chord once, with the results ordered by group index', async (ctx) => {
      const [a, b] = [await make(), await make()];
      ctx.skip(!counts(a), `${label}: capabilities.chords is ${String(a.capabilities.chords)}`);
      const gid = uniq('chord');
      await a.prepareChord?.(gid, 3, { expires: 60 });
      const part = (i: number) => meta(`${gid}-${i}`, 'SUCCESS', i * 10);
      expect(await a.chordPartReturn?.(gid, 2, part(2), null)).toBeNull();
      expect(await b.chordPartReturn?.(gid, 0, part(0), null)).toBeNull();
      // A redelivered part is recorded again but counts once.
      expect(await b.chordPartReturn?.(gid, 0, part(0), null)).toBeNull();
      expect(await a.chordPartReturn?.(gid, 1, part(1), null)).toEqual([0, 10, 20]);
      // The counter is gone: a late duplicate does not fire the body again.
      expect(await b.chordPartReturn?.(gid, 1, part(1), null)).toBeNull();
    });

    it('lets exactly one of many concurrent last parts complete the chord', async (ctx) => {
      const [a, b] = [await make(), await make()];
      ctx.skip(!counts(a), `${label}: capabilities.chords is ${String(a.capabilities.chords)}`);
      const n = 40;
      const gid = uniq('race');
      await a.prepareChord?.(gid, n, { expires: 60 });
      const got = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          (i % 2 ? a : b).chordPartReturn?.(gid, n - 1 - i, meta(`${gid}-${i}`, 'SUCCESS', n - 1 - i), null),
        ),
      );
      const done = got.filter((r) => r !== null);
      expect(done).toEqual([Array.from({ length: n }, (_, i) => i)]);
    });

    it('fails the chord with Celery’s ChordError naming the failed part', async (ctx) => {
      const b = await make();
      ctx.skip(!counts(b), `${label}: capabilities.chords is ${String(b.capabilities.chords)}`);
      const gid = uniq('cfail');
      await b.prepareChord?.(gid, 2, { expires: 60 });
      const boom = meta(`${gid}-bad`, 'FAILURE', {
        exc_type: 'ValueError',
        exc_message: ['header-boom'],
        exc_module: 'builtins',
      });
      expect(await b.chordPartReturn?.(gid, 1, boom, null)).toBeNull();
      const err = await b.chordPartReturn?.(gid, 0, meta(`${gid}-ok`, 'SUCCESS', 1), null).catch((e) => e);
      expect(err).toBeInstanceOf(ChordError);
      expect((err as ChordError).message).toBe(`Dependency ${gid}-bad raised ValueError('header-boom')`);
      // Cleaned up all the same.
      expect(await b.chordPartReturn?.(gid, 0, meta(`${gid}-ok`, 'SUCCESS', 1), null)).toBeNull();
    });

    it('waits for the size the caller gives when none was prepared (Celery 5.0 chord_size)', async (ctx) => {
      const b = await make();
      ctx.skip(!counts(b), `${label}: capabilities.chords is ${String(b.capabilities.chords)}`);
      const gid = uniq('csize');
      expect(await b.chordPartReturn?.(gid, 0, meta(`${gid}-0`, 'SUCCESS', 'a'), 2)).toBeNull();
      expect(await b.chordPartReturn?.(gid, 1, meta(`${gid}-1`, 'SUCCESS', 'b'), 2)).toEqual(['a', 'b']);
    });

    it('expires results after their lifetime', async (ctx) => {
      const b = await make();
      ctx.skip(!b.capabilities.expiry, `${label}: no capabilities.expiry`);
      const id = uniq('exp');
      await b.store(meta(id, 'SUCCESS', 1), { expires: 1 });
      expect(await b.get(id)).not.toBeNull();
      const deadline = Date.now() + 5000;
      while ((await b.get(id)) !== null) {
        if (Date.now() > deadline) throw new Error('result did not expire within 5 s of a 1 s lifetime');
        await new Promise((r) => setTimeout(r, 100));
      }
    });
  });
}
