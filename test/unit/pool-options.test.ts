// Option validation for pools, autoscale and the blocking watch: every message names the option and the fix.
import { describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { parseAutoscale } from '../../src/worker/autoscale.js';
import { parsePoolSpec } from '../../src/worker/worker.js';

const app = new Celeriac({ broker: 'memory://pool-options', backend: 'memory://pool-options' });

describe('pool options', () => {
  it('parses the CPU pool spec', () => {
    expect(parsePoolSpec('prefork:2')).toEqual({ name: 'prefork', concurrency: 2 });
    expect(parsePoolSpec('threads')).toEqual({ name: 'threads' });
    expect(() => parsePoolSpec('prefork:0')).toThrow(
      'the process count in cpuPool "prefork:0" must be a positive integer',
    );
    expect(() => parsePoolSpec(':2')).toThrow('cpuPool must look like "prefork:2" or "threads", got ":2"');
  });

  it('parses autoscale as max,min in Celery order', () => {
    expect(parseAutoscale('8,2')).toEqual({ max: 8, min: 2 });
    expect(parseAutoscale('4')).toEqual({ max: 4, min: 1 });
    expect(() => parseAutoscale('2,8')).toThrow(
      'autoscale must be "max,min" with whole numbers and 1 <= min <= max (e.g. 8,2), got 2,8',
    );
  });

  it('rejects worker options that cannot work together', () => {
    expect(() => app.worker({ cpuQueues: ['images'] })).toThrow(
      'cpuQueues needs a CPU pool: set cpuPool too (e.g. cpuPool: "prefork:2")',
    );
    expect(() => app.worker({ cpuAutoscale: { max: 4, min: 1 } })).toThrow('cpuAutoscale needs a CPU pool');
    expect(() => app.worker({ blockingThreshold: -5 })).toThrow(
      'blockingThreshold must be a number of milliseconds >= 0, got -5',
    );
    expect(() => app.worker({ autoscale: { max: 1, min: 3 } })).toThrow('1 <= min <= max');
  });

  it('refuses an event-loop pool as the CPU pool, and leaves nothing running', async () => {
    const w = app.worker({ cpuPool: 'async:2' });
    await expect(w.start()).rejects.toThrow(
      'the CPU pool must run tasks off the event loop: prefork or threads, not "async"',
    );
    expect(w.state).toBe('stopped');
  });

  it('adds the CPU queues to the consumed queues', () => {
    expect(app.worker({ queues: ['a'], cpuPool: 'prefork:1', cpuQueues: ['b', 'a'] }).queues).toEqual([
      'a',
      'b',
    ]);
  });
});
