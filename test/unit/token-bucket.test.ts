// parseRate's grammar and messages, and TokenBucket's refill maths on an injected clock.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseRate, TokenBucket } from '../../src/util/token-bucket.js';

describe('parseRate', () => {
  it("reads Celery's rate strings as tasks per second", () => {
    expect(parseRate('10/s')).toBe(10);
    expect(parseRate('100/m')).toBeCloseTo(100 / 60, 12);
    expect(parseRate('5/h')).toBeCloseTo(5 / 3600, 12);
    expect(parseRate(' 2.5 / s ')).toBe(2.5);
    expect(parseRate('7')).toBe(7); // no unit: per second, as Celery
    expect(parseRate(3)).toBe(3);
  });

  it('rejects anything else with the expected forms in the message', () => {
    for (const bad of ['', 'fast', '10/x', '10/', '-1/s', '1e3/s', '/s']) {
      expect(() => parseRate(bad), bad).toThrow(ConfigError);
      expect(() => parseRate(bad), bad).toThrow(
        `invalid rate limit "${bad}" (expected e.g. '10/s', '100/m', '5/h')`,
      );
    }
  });
});

describe('TokenBucket', () => {
  const clockAt = (t: number) => {
    const c = { t, now: () => c.t };
    return c;
  };

  it('starts full, then says exactly when the next token is due', () => {
    const c = clockAt(1_000);
    const b = new TokenBucket(10, 1, c.now); // one token per 100 ms
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(1_100);
    c.t = 1_099;
    // 99 % refilled: not yet. The due time may come out 1 ms late from float rounding
    // ((1 - 0.99) / 0.01 = 1.0000000000000009, ceiled), never early.
    const due = b.take();
    expect(due).not.toBe(true);
    expect(due).toBeGreaterThanOrEqual(1_100);
    expect(due).toBeLessThanOrEqual(1_101);
    c.t = 1_100;
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(1_200);
  });

  it('allows a burst of its capacity, and refills no further than it', () => {
    const c = clockAt(0);
    const b = new TokenBucket(1, 3, c.now);
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, true]);
    expect(b.take()).toBe(1_000);
    c.t = 3_600_000; // an hour idle
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, true]);
    expect(b.take()).toBe(3_601_000);
  });

  it('rounds slow rates up to the millisecond a token is whole', () => {
    const c = clockAt(0);
    const b = new TokenBucket(parseRate('5/h'), 1, c.now);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(720_000);
    const third = new TokenBucket(3, 1, c.now); // 333.33… ms per token
    expect(third.take()).toBe(true);
    expect(third.take()).toBe(334);
  });

  it('uses an explicit `now` argument over its clock', () => {
    const c = clockAt(0);
    const b = new TokenBucket(10, 1, c.now);
    expect(b.take(0)).toBe(true);
    expect(b.take(50)).toBe(100);
    expect(b.take(100)).toBe(true);
  });
});
