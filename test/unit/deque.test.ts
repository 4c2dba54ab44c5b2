/** The ring buffer's rare operations: removing by predicate in order, and iterating across the wrap. */
import { describe, expect, it } from 'vitest';
import { Deque } from '../../src/util/deque.js';

describe('Deque', () => {
  it('removeWhere takes out the matches and keeps the rest in order, across the ring’s wrap', () => {
    const d = new Deque<number>();
    for (let i = 0; i < 20; i++) d.push(i); // grows past 16
    for (let i = 0; i < 10; i++) d.shift();
    for (let i = 20; i < 30; i++) d.push(i); // wraps
    expect(d.removeWhere((n) => n % 3 === 0)).toEqual([12, 15, 18, 21, 24, 27]);
    expect([...d]).toEqual([10, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 26, 28, 29]);
    expect(d.length).toBe(14);
    expect(d.removeWhere(() => false)).toEqual([]);
    expect(d.shift()).toBe(10);
  });
});
