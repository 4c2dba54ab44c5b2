/**
 * The fallback for result backends that store results but cannot count chord parts
 * (`capabilities.chords: 'unlock'`): the client saves the header as a group and sends Celery's
 * `celery.chord_unlock`, which our worker runs: it polls (by retrying itself) until every member is
 * ready, then applies the body with the results in header order, or fails it with ChordError.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { registerBackend } from '../../src/backends/registry.js';
import { chord, type TaskError } from '../../src/index.js';
import { uuid } from '../../src/protocol/oid.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

class UnlockOnly extends MemoryBackend {
  override readonly capabilities = { groups: true, expiry: true, chords: 'unlock' as const };
}
Object.defineProperty(UnlockOnly.prototype, 'prepareChord', { value: undefined });
Object.defineProperty(UnlockOnly.prototype, 'chordPartReturn', { value: undefined });
registerBackend('unlockonly', async () => (url) => new UnlockOnly(url.host));

describe("chords on a backend that declares 'unlock'", () => {
  it('fires the body through celery.chord_unlock once every member is ready', async () => {
    t = memoryApp({ backend: `unlockonly://${uuid()}` });
    const sent: string[] = [];
    t.app.on('before_task_publish', ({ sender }) => void sent.push(sender));
    const slow = t.app.task('u.slow', async (ms: number, v: number) => {
      await new Promise((r) => setTimeout(r, ms));
      return v;
    });
    const tsum = t.app.task('u.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    await t.startWorker({ concurrency: 4 });
    // The unlock task's first poll is 1 s after publishing; one member is still running then.
    const r = await chord([slow.s(10, 1), slow.s(1500, 2), slow.s(10, 3)], tsum.s()).applyAsync();
    expect(await r.get({ timeout: 15 })).toBe(6);
    expect(sent.filter((s) => s === 'celery.chord_unlock').length).toBeGreaterThanOrEqual(2); // it polled again
  }, 20_000);

  it('fails the body with ChordError when a member failed', async () => {
    t = memoryApp({ backend: `unlockonly://${uuid()}` });
    const ok = t.app.task('u.ok', (v: number) => v);
    const bad = t.app.task('u.bad', () => {
      throw new RangeError('no');
    });
    const tsum = t.app.task('u.tsum2', (xs: number[]) => xs.length);
    await t.startWorker();
    const r = await chord([ok.s(1), bad.s()], tsum.s()).applyAsync();
    const err = (await r.get({ timeout: 15 }).catch((e: unknown) => e)) as TaskError;
    expect(err.excType).toBe('ChordError');
    expect(String(err.excMessage[0])).toMatch(/^Dependency .+ raised RangeError\('no'\)$/);
  }, 20_000);
});
