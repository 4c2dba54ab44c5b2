/**
 * The write coalescer (src/util/coalesce.ts): one write per turn, bounded batches, a failed write fails
 * each of its items, serial order, flush. Deterministic: turns are awaited with setImmediate, never timers.
 */
import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../src/util/coalesce.js';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('Coalescer', () => {
  it('writes the items of one turn in one call, and each caller resolves with it', async () => {
    const writes: number[][] = [];
    const c = new Coalescer<number>((items) => {
      writes.push([...items]);
    });
    const ps = [1, 2, 3].map((n) => c.add(n));
    expect(writes).toEqual([]); // nothing written in the turn of the calls
    await Promise.all(ps);
    expect(writes).toEqual([[1, 2, 3]]);
    await c.add(4);
    expect(writes).toEqual([[1, 2, 3], [4]]);
    expect(c.writes).toBe(2);
  });

  it('a lone item is written on the next turn, before any timer', async () => {
    const order: string[] = [];
    const c = new Coalescer<string>((items) => {
      order.push(...items);
    });
    setTimeout(() => order.push('timer'), 0);
    await c.add('item');
    expect(order[0]).toBe('item');
  });

  it('a full batch is written at once and the next item starts a new one', async () => {
    const writes: number[][] = [];
    const c = new Coalescer<number>((items) => void writes.push([...items]), { max: 2 });
    const ps = [1, 2, 3, 4, 5].map((n) => c.add(n));
    expect(writes).toEqual([
      [1, 2],
      [3, 4],
    ]);
    await Promise.all(ps);
    expect(writes).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('a failed write rejects every item it carried, and only those', async () => {
    let fail = true;
    const c = new Coalescer<number>(async () => {
      if (fail) throw new Error('store down');
    });
    const first = [1, 2].map((n) => c.add(n));
    const results = await Promise.allSettled(first);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason.message).toBe('store down');
    fail = false;
    await expect(c.add(3)).resolves.toBeUndefined();
  });

  it('a write that throws synchronously fails its items the same way', async () => {
    const c = new Coalescer<number>(() => {
      throw new Error('sync');
    });
    await expect(c.add(1)).rejects.toThrow('sync');
  });

  it('serial batches are written one after another', async () => {
    const log: string[] = [];
    const gates: Array<() => void> = [];
    const c = new Coalescer<number>(
      (items) =>
        new Promise<void>((resolve) => {
          log.push(`start ${items.join(',')}`);
          gates.push(() => {
            log.push(`end ${items.join(',')}`);
            resolve();
          });
        }),
      { serial: true, max: 1 },
    );
    const a = c.add(1);
    const b = c.add(2);
    await nextTurn();
    expect(log).toEqual(['start 1']); // the second waits for the first
    gates.shift()?.();
    await a;
    await nextTurn();
    expect(log).toEqual(['start 1', 'end 1', 'start 2']);
    gates.shift()?.();
    await b;
  });

  it('non-serial batches overlap', async () => {
    const started: number[] = [];
    const gates: Array<() => void> = [];
    const c = new Coalescer<number>(
      (items) =>
        new Promise<void>((resolve) => {
          started.push(...items);
          gates.push(resolve);
        }),
      { max: 1 },
    );
    const ps = [c.add(1), c.add(2)];
    expect(started).toEqual([1, 2]);
    for (const g of gates) g();
    await Promise.all(ps);
  });

  it('flush() writes what is queued now and waits for every batch so far', async () => {
    const gates: Array<() => void> = [];
    const written: number[] = [];
    const c = new Coalescer<number>(
      (items) =>
        new Promise<void>((resolve) =>
          gates.push(() => {
            written.push(...items);
            resolve();
          }),
        ),
      { max: 2 },
    );
    void c.add(1);
    void c.add(2); // full: sent
    void c.add(3); // queued
    let flushed = false;
    const f = c.flush().then(() => {
      flushed = true;
    });
    expect(gates.length).toBe(2); // the queued one went out at once
    expect(c.pending).toBe(0);
    gates[1]?.();
    await nextTurn();
    expect(flushed).toBe(false); // the first batch is still in flight
    gates[0]?.();
    await f;
    expect(written.sort()).toEqual([1, 2, 3]);
  });

  it('addAll keeps its items in one batch', async () => {
    const writes: number[][] = [];
    const c = new Coalescer<number>((items) => void writes.push([...items]), { max: 2 });
    await c.addAll([1, 2, 3]);
    await c.addAll([]);
    expect(writes).toEqual([[1, 2, 3]]);
  });
});
