// TimerHeap on a hand-driven clock: due order, one armed timer for any number of entries, re-arming,
// drain, and the setTimeout ceiling. No real time passes.
import { describe, expect, it } from 'vitest';
import { TimerHeap } from '../../src/util/timer-heap.js';
import { ManualClock } from '../helpers/clock.js';

function heap() {
  const clock = new ManualClock(0);
  const fired: Array<[string, number]> = [];
  const h = new TimerHeap<string>((item) => fired.push([item, clock.now()]), clock);
  return { clock, fired, h };
}

describe('TimerHeap', () => {
  it('fires an entry at its due time, not before', () => {
    const { clock, fired, h } = heap();
    h.add(100, 'a');
    clock.advance(99);
    expect(fired).toEqual([]);
    expect(h.size).toBe(1);
    clock.advance(1);
    expect(fired).toEqual([['a', 100]]);
    expect(h.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('fires in due order, and entries due at the same time in the order they were added', () => {
    const { clock, fired, h } = heap();
    // A fixed pseudo-random sequence (LCG), so the heap sees an arbitrary but repeatable insert order.
    let seed = 42;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    const added: Array<[string, number]> = [];
    for (let i = 0; i < 300; i++) {
      const at = next() % 50; // many ties
      added.push([`e${i}`, at]);
      h.add(at, `e${i}`);
    }
    clock.advance(50);
    const expected = added
      .map(([item, at], i) => ({ item, at, i }))
      .sort((x, y) => x.at - y.at || x.i - y.i)
      .map(({ item, at }) => [item, at]);
    expect(fired).toEqual(expected);
  });

  it('keeps a single timer armed for the earliest entry, re-arming only for an earlier one', () => {
    const { clock, h } = heap();
    for (let i = 0; i < 1000; i++) h.add(500 + i, `late${i}`);
    expect(clock.pending).toBe(1);
    expect(clock.delays).toEqual([500]); // later entries did not touch the timer
    h.add(200, 'earlier');
    expect(clock.pending).toBe(1); // the old timer was cleared, not left running
    expect(clock.delays).toEqual([500, 200]);
    h.add(300, 'not earliest');
    expect(clock.delays).toEqual([500, 200]);
  });

  it('fires everything due in one tick, then arms for the next entry', () => {
    const { clock, fired, h } = heap();
    h.add(10, 'a');
    h.add(10, 'b');
    h.add(40, 'c');
    clock.advance(10);
    expect(fired.map(([i]) => i)).toEqual(['a', 'b']);
    expect(clock.delays).toEqual([10, 30]);
    clock.advance(30);
    expect(fired).toEqual([
      ['a', 10],
      ['b', 10],
      ['c', 40],
    ]);
  });

  it('fires an entry that is already past due at once (delay 0)', () => {
    const { clock, fired, h } = heap();
    clock.advance(1000);
    h.add(10, 'late');
    expect(clock.delays).toEqual([0]);
    clock.advance(0);
    expect(fired).toEqual([['late', 1000]]);
  });

  it('drain returns every item, disarms the timer, and nothing fires afterwards', () => {
    const { clock, fired, h } = heap();
    h.add(30, 'c');
    h.add(10, 'a');
    h.add(20, 'b');
    expect(h.items().sort()).toEqual(['a', 'b', 'c']);
    expect(h.drain().sort()).toEqual(['a', 'b', 'c']);
    expect(h.size).toBe(0);
    expect(clock.pending).toBe(0);
    clock.advance(100);
    expect(fired).toEqual([]);
    h.add(150, 'again'); // usable after a drain: arms afresh
    clock.advance(50);
    expect(fired).toEqual([['again', 150]]);
  });

  it('waits past the setTimeout ceiling (~24.8 days) by re-arming, without firing early', () => {
    const { clock, fired, h } = heap();
    const max = 2 ** 31 - 1;
    const at = 40 * 24 * 3600 * 1000; // 40 days
    h.add(at, 'far');
    expect(clock.delays).toEqual([max]);
    clock.advance(max);
    expect(fired).toEqual([]);
    expect(clock.delays).toEqual([max, at - max]);
    clock.advance(at - max);
    expect(fired).toEqual([['far', at]]);
  });
});
