// backoffDelay: Celery's exponential retry backoff (retry_backoff, retry_backoff_max, retry_jitter),
// with the random source injected.
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/task/retry.js';

describe('backoffDelay', () => {
  it('doubles from the factor per retry and stops at the cap, without jitter', () => {
    const delays = Array.from({ length: 12 }, (_, r) => backoffDelay(r, 1, 600, false));
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
    expect(Array.from({ length: 4 }, (_, r) => backoffDelay(r, 3, 20, false))).toEqual([3, 6, 12, 20]);
  });

  it('never consults the random source without jitter', () => {
    const random = () => {
      throw new Error('random() called');
    };
    expect(backoffDelay(3, 2, 600, false, random)).toBe(16);
  });

  it('with full jitter picks a whole number in [0, countdown], both ends included', () => {
    // countdown 8: nine outcomes; random() = i/9 must give i.
    const got = Array.from({ length: 9 }, (_, i) => backoffDelay(3, 1, 600, true, () => i / 9));
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(backoffDelay(3, 1, 600, true, () => 0.999_999)).toBe(8);
    // The cap applies before the jitter.
    expect(backoffDelay(20, 1, 600, true, () => 0.999_999)).toBe(600);
  });

  it('defaults to Math.random', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2, 1, 600, true);
      expect(Number.isInteger(d) && d >= 0 && d <= 4).toBe(true);
    }
  });
});
