/** `celeriac/testing`, the helpers for users' own tests, and the package's subpath exports. */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { currentTask } from '../../src/index.js';
import { memoryUrl, startTestWorker, type TestWorker, testApp } from '../../src/testing/index.js';

let stop: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stop) await s();
  stop = [];
});

describe('celeriac/testing', () => {
  it('runs tasks on an isolated in-process app and waits until the worker is idle', async () => {
    const app = testApp();
    const seen: number[] = [];
    const add = app.task('t.add', async (x: number, y: number) => {
      await new Promise((r) => setTimeout(r, 20));
      seen.push(x + y);
      return currentTask().id;
    });
    const w: TestWorker = await startTestWorker(app);
    stop.push(
      () => w.stop(),
      () => app.close(),
    );
    await add.applyMany([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    await w.idle();
    expect([...seen].sort((a, b) => a - b)).toEqual([3, 7, 11]);
    expect(w.logs.filter((l) => l.includes('succeeded'))).toHaveLength(3);
    // Another test app shares nothing with this one.
    const other = testApp();
    stop.push(() => other.close());
    expect(other.conf.brokerUrl).not.toBe(app.conf.brokerUrl);
    expect(await (await other.broker()).size('celery')).toBe(0);
  });

  it('fails idle() with what is still busy', async () => {
    const app = testApp();
    app.task('t.slow', () => new Promise((r) => setTimeout(r, 2000)));
    const w = await startTestWorker(app);
    stop.push(
      () => w.stop(),
      () => app.close(),
    );
    await app.sendTask('t.slow');
    await expect(w.idle({ timeoutMs: 50 })).rejects.toThrow(/not idle after 50 ms \(1 busy/);
  });

  it('memoryUrl() is unique per call', () => {
    expect(memoryUrl()).not.toBe(memoryUrl());
    expect(memoryUrl('mine')).toMatch(/^memory:\/\/mine-/);
  });
});

describe('package exports', () => {
  it('every subpath export points at a module built from src/', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, string | { types: string; default: string }>;
    };
    const subpaths = Object.entries(pkg.exports).filter(([k]) => k !== './package.json');
    expect(subpaths.map(([k]) => k)).toEqual(['.', './testing']);
    for (const [, target] of subpaths) {
      if (typeof target === 'string') throw new Error(`expected a conditions object, got ${target}`);
      const source = target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
      expect(existsSync(new URL(`../../${source}`, import.meta.url)), source).toBe(true);
      expect(target.types).toBe(target.default.replace(/\.js$/, '.d.ts'));
    }
  });
});
