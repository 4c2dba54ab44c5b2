/**
 * Configuration is resolved once and frozen all the way down: an app's settings never share arrays with
 * the defaults or with another app, a worker's options are applied over the settings once (its config
 * is what its middleware read), and a worker does not change its app.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, settingDefaults } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('settings', () => {
  it('are a deep, frozen copy: no app can change the defaults or another app', () => {
    const a = new Celeriac({ broker: 'memory://cfg-a' });
    const b = new Celeriac({ broker: 'memory://cfg-b', taskRoutes: { 'x.*': { queue: 'xq' } } });
    expect(a.conf.acceptContent).not.toBe(settingDefaults.acceptContent);
    expect(() => (a.conf.acceptContent as string[]).push('pickle')).toThrow(TypeError);
    expect(settingDefaults.acceptContent).toEqual(['json']);
    expect(b.conf.acceptContent).toEqual(['json']);
    expect(Object.isFrozen(b.conf.taskRoutes)).toBe(true);
    expect(Object.isFrozen(b.conf.taskRoutes['x.*'])).toBe(true);
    expect(Object.isFrozen(a.conf.brokerTransportOptions)).toBe(true);
  });
});

describe('worker config', () => {
  it("applies the worker's options over the app's settings once, deeply frozen", () => {
    t = memoryApp({ taskTimeLimit: 60, workerPrefetchMultiplier: 4 });
    const w = t.app.worker({ timeLimit: 5, prefetchMultiplier: 1, hostname: 'cfg@%h', blockingThreshold: 0 });
    const c = w.config;
    expect(c.conf.taskTimeLimit).toBe(5);
    expect(c.conf.workerPrefetchMultiplier).toBe(1);
    expect(c.conf.workerBlockingThreshold).toBe(0);
    expect(c.hostname).toMatch(/^cfg@.+/);
    expect(c.conf.workerHostname).toBe(c.hostname);
    expect(t.app.conf.taskTimeLimit).toBe(60);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.conf)).toBe(true);
    expect(Object.isFrozen(c.queues)).toBe(true);
    expect(Object.isFrozen(c.conf.acceptContent)).toBe(true);
  });

  it('validates worker options with a message naming the option', () => {
    t = memoryApp();
    expect(() => t?.app.worker({ prefetchMultiplier: -1 })).toThrow(
      'prefetchMultiplier must be a number >= 0, got -1',
    );
    expect(() => t?.app.worker({ cpuQueues: ['cpu'] })).toThrow(/cpuQueues needs a CPU pool/);
  });

  it('a worker resolves a per-task option against its own config (the worker-wide time limit)', async () => {
    t = memoryApp();
    const slow = t.app.task('cfg.slow', () => new Promise((r) => setTimeout(r, 5000)));
    const fast = t.app.task('cfg.fast', () => 1, { timeLimit: 10 });
    await t.startWorker({ timeLimit: 0.2 });
    const r = await slow.delay();
    await expect(r.get({ timeout: 5 })).rejects.toMatchObject({ excType: 'TimeLimitExceeded' });
    expect(await (await fast.delay()).get({ timeout: 5 })).toBe(1);
  });
});
