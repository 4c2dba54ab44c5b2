/**
 * The beat store conformance suite (src/beat/store.ts): every store runs it through a factory whose
 * `create()` returns a new store on the same shared state, as another process would see it. Lease
 * expiry is real time with short leases; expiry is awaited by polling the store, never by sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BeatStore } from '../../src/beat/store.js';
import { waitUntil } from '../helpers/services.js';

export interface BeatStoreHarness {
  /** A new connection to the same shared state; the suite connects and closes it. */
  create(): Promise<BeatStore>;
  cleanup?(): Promise<void>;
}

const TTL = 250;

export function beatStoreConformance(
  name: string,
  setup: () => Promise<BeatStoreHarness>,
  skip = false,
): void {
  describe.skipIf(skip)(`beat store conformance: ${name}`, () => {
    let open: BeatStore[] = [];
    let harness: BeatStoreHarness | null = null;
    afterEach(async () => {
      await Promise.all(open.map((s) => s.close()));
      open = [];
      await harness?.cleanup?.();
    });
    async function two(): Promise<[BeatStore, BeatStore]> {
      harness = await setup();
      const a = await harness.create();
      const b = await harness.create();
      await a.connect();
      await b.connect();
      open.push(a, b);
      return [a, b];
    }
    const expired = (s: BeatStore) =>
      waitUntil(async () => (await s.holder()) === null, 5000, 'lease expiry');

    it('one holder at a time; the holder refreshes, another cannot take an unexpired lease', async () => {
      const [a, b] = await two();
      expect(await a.acquire('A', 10_000)).toBe(true);
      expect(await b.acquire('B', 10_000)).toBe(false);
      expect(await a.acquire('A', 10_000)).toBe(true);
      expect(await b.holder()).toBe('A');
    });

    it('renewal is fenced: only the holder renews, and a renewal keeps the lease past its first ttl', async () => {
      const [a, b] = await two();
      expect(await a.acquire('A', TTL)).toBe(true);
      expect(await b.renew('B', TTL)).toBe(false);
      const until = Date.now() + TTL * 3;
      while (Date.now() < until) {
        expect(await a.renew('A', TTL)).toBe(true);
        expect(await b.acquire('B', TTL)).toBe(false);
        await waitUntil(() => true);
      }
      expect(await b.holder()).toBe('A');
    });

    it('release frees the lease for its holder only', async () => {
      const [a, b] = await two();
      await a.acquire('A', 10_000);
      await b.release('B');
      expect(await b.acquire('B', 10_000)).toBe(false);
      await a.release('A');
      expect(await a.holder()).toBe(null);
      expect(await b.acquire('B', 10_000)).toBe(true);
    });

    it('an expired lease is taken over, and its former holder can neither renew, claim, baseline nor prune', async () => {
      const [a, b] = await two();
      await a.acquire('A', TTL);
      expect(await a.baseline('A', 'e', 1000)).toBe(true);
      await expired(b);
      expect(await b.acquire('B', 10_000)).toBe(true);
      expect(await a.renew('A', 10_000)).toBe(false);
      expect(await a.claim('A', 'e', 2000)).toBe('not-leader');
      expect(await a.baseline('A', 'f', 1000)).toBe(false);
      expect(await a.prune('A', [])).toEqual([]);
      expect(await b.lastRuns()).toEqual(new Map([['e', 1000]]));
      expect(await b.claim('B', 'e', 2000)).toBe('claimed');
    });

    it('no lease, no claim', async () => {
      const [a] = await two();
      expect(await a.claim('A', 'e', 1000)).toBe('not-leader');
      expect((await a.lastRuns()).size).toBe(0);
    });

    it('each slot is claimed once ever, records the last run, and refuses due times at or before it', async () => {
      const [a, b] = await two();
      await a.acquire('A', 10_000);
      expect(await a.claim('A', 'e', 2000)).toBe('claimed');
      expect(await a.claim('A', 'e', 2000)).toBe('claimed'); // the same claimer again (a resent claim)
      expect((await b.lastRuns()).get('e')).toBe(2000);
      expect(await a.claim('A', 'e', 1000)).toBe('taken'); // before the last run
      await a.release('A');
      await b.acquire('B', 10_000);
      expect(await b.claim('B', 'e', 2000)).toBe('taken'); // another claimer, the same slot
      expect(await b.claim('B', 'e', 3000)).toBe('claimed');
      expect((await a.lastRuns()).get('e')).toBe(3000);
    });

    it('concurrent claims of many slots from two connections of the holder: each slot claimed exactly once', async () => {
      const [a, b] = await two();
      await a.acquire('A', 10_000);
      const slots = Array.from({ length: 40 }, (_, i) => 10_000 + i * 1000);
      // Two connections race on every slot; the token is the same (one leader), so both may answer
      // 'claimed' for the claim that won, but the last run ends at the last slot and nothing is lost.
      const results = await Promise.all(
        slots.flatMap((d) => [a.claim('A', 'race', d), b.claim('A', 'race', d)]),
      );
      expect(results.filter((r) => r === 'not-leader')).toEqual([]);
      expect((await a.lastRuns()).get('race')).toBe(slots[slots.length - 1]);
      // A second leader afterwards gets none of them.
      await a.release('A');
      await b.acquire('B', 10_000);
      const again = await Promise.all(slots.map((d) => b.claim('B', 'race', d)));
      expect(again.every((r) => r === 'taken')).toBe(true);
    });

    it('baseline sets a last run only when there is none', async () => {
      const [a] = await two();
      await a.acquire('A', 10_000);
      expect(await a.baseline('A', 'e', 1000)).toBe(true);
      expect(await a.baseline('A', 'e', 5000)).toBe(true);
      expect((await a.lastRuns()).get('e')).toBe(1000);
    });

    it('prune drops the state of entries no longer in code', async () => {
      const [a, b] = await two();
      await a.acquire('A', 10_000);
      await a.claim('A', 'keep', 1000);
      await a.claim('A', 'gone', 1000);
      expect(await a.prune('A', ['keep'])).toEqual(['gone']);
      expect(await b.lastRuns()).toEqual(new Map([['keep', 1000]]));
      expect(await a.prune('A', ['keep'])).toEqual([]);
    });
  });
}
