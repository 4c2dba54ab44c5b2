/**
 * ResultWaiters (src/backends/waiters.ts), the one implementation of waiting behind every result
 * backend, tested directly with fake timers: how a wait ends (notification, timeout, abort, close,
 * failure), the hooks a backend sees, and the pacing of the poll loop. Real backends run it through the
 * backend conformance suite.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ResultWaiters } from '../../src/backends/waiters.js';
import { buildMeta, type ResultMeta } from '../../src/protocol/result.js';

const meta = (id: string, status: string, result: unknown = null): ResultMeta =>
  buildMeta(id, status, result, null, new Date(0));

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ResultWaiters', () => {
  it('ends every wait of an id with the first ready meta it is notified of, and watches the id once', async () => {
    const watched: string[] = [];
    const unwatched: string[] = [];
    const w = new ResultWaiters({
      watch: (id) => void watched.push(id),
      unwatch: (id) => void unwatched.push(id),
    });
    const a = w.wait('t1', { timeoutMs: null });
    const b = w.wait('t1', { timeoutMs: 1000 });
    expect(watched).toEqual(['t1']);
    expect(w.size).toBe(1);

    expect(w.notify(meta('t1', 'STARTED'))).toBe(false); // not ready: the waits go on
    expect(w.notify(meta('other', 'SUCCESS'))).toBe(false); // nobody waits for it
    expect(w.notify(meta('t1', 'SUCCESS', 42))).toBe(true);

    expect((await a)?.result).toBe(42);
    expect((await b)?.result).toBe(42);
    expect(unwatched).toEqual(['t1']);
    expect(w.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0); // b's timeout timer is gone
  });

  it('delivers under an explicit task id (a channel or correlation id naming the task)', async () => {
    const w = new ResultWaiters();
    const p = w.wait('t1', { timeoutMs: null });
    w.notify({ ...meta('t1', 'FAILURE'), task_id: 'elsewhere' }, 't1');
    expect((await p)?.status).toBe('FAILURE');
  });

  it('resolves null when the timeout passes first, and unwatches the id', async () => {
    const unwatched: string[] = [];
    const w = new ResultWaiters({ unwatch: (id) => void unwatched.push(id) });
    let settled: ResultMeta | null | undefined;
    void w.wait('t1', { timeoutMs: 100 }).then((m) => {
      settled = m;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBeNull();
    expect(unwatched).toEqual(['t1']);
    expect(w.size).toBe(0);
    expect(w.notify(meta('t1', 'SUCCESS'))).toBe(false); // a late result finds nobody
  });

  it('resolves null on abort, at once for a signal aborted before the wait, touching no hook', async () => {
    const watch = vi.fn();
    const read = vi.fn(() => [meta('t1', 'SUCCESS')]);
    const w = new ResultWaiters({ watch, read });
    const before = new AbortController();
    before.abort();
    expect(await w.wait('t1', { timeoutMs: null, signal: before.signal })).toBeNull();
    expect(watch).not.toHaveBeenCalled();
    expect(read).not.toHaveBeenCalled();

    const during = new AbortController();
    read.mockReturnValue([]);
    const p = w.wait('t2', { timeoutMs: 10_000, signal: during.signal });
    during.abort();
    expect(await p).toBeNull();
    expect(w.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('watches before it reads, and answers from the read when the result is already stored', async () => {
    const calls: string[] = [];
    const w = new ResultWaiters({
      watch: (id) => void calls.push(`watch ${id}`),
      read: (ids) => {
        calls.push(`read ${ids.join(',')}`);
        return [meta('t1', 'SUCCESS', 'stored')];
      },
    });
    expect((await w.wait('t1', { timeoutMs: null }))?.result).toBe('stored');
    expect(calls).toEqual(['watch t1', 'read t1']);
  });

  it('rejects the waits of an id whose watch fails, and a wait whose read fails', async () => {
    const w = new ResultWaiters({ watch: async () => Promise.reject(new Error('no consumer')) });
    const a = w.wait('t1', { timeoutMs: null });
    const b = w.wait('t1', { timeoutMs: null });
    await expect(a).rejects.toThrow('no consumer');
    await expect(b).rejects.toThrow('no consumer');
    expect(w.size).toBe(0);

    const r = new ResultWaiters({ read: () => Promise.reject(new Error('not connected')) });
    await expect(r.wait('t1', { timeoutMs: null })).rejects.toThrow('not connected');
    expect(r.size).toBe(0);
  });

  it('polls every awaited id in one read, backing off from 5 ms to the smallest intervalMs, until a ready meta shows up', async () => {
    const stored = new Map<string, ResultMeta>();
    const rounds: string[][] = [];
    const pauses: number[] = [];
    const w = new ResultWaiters({
      poll: {
        read: (ids) => {
          rounds.push([...ids]);
          return ids.flatMap((id) => stored.get(id) ?? []);
        },
        changed: (ms) => {
          pauses.push(ms);
          return new Promise((r) => setTimeout(r, ms));
        },
      },
    });
    const a = w.wait('a', { timeoutMs: null, intervalMs: 40 });
    const b = w.wait('b', { timeoutMs: null });
    await vi.advanceTimersByTimeAsync(5 + 10 + 20 + 40 + 40);
    expect(pauses).toEqual([5, 10, 20, 40, 40, 40]);
    expect(rounds.slice(0, 2)).toEqual([['a'], ['a', 'b']]);

    stored.set('a', meta('a', 'STARTED'));
    await vi.advanceTimersByTimeAsync(40);
    stored.set('a', meta('a', 'SUCCESS', 'done'));
    await vi.advanceTimersByTimeAsync(40);
    expect((await a)?.result).toBe('done');
    expect(pauses.at(-1)).toBe(5); // a round that found something goes back to the shortest pause

    stored.set('b', meta('b', 'REVOKED'));
    await vi.advanceTimersByTimeAsync(5);
    expect((await b)?.status).toBe('REVOKED');
    const done = rounds.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(rounds.length).toBe(done); // nobody waits: the loop stopped
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() ends every wait with null and stops the poll loop', async () => {
    const read = vi.fn((): ResultMeta[] => []);
    const w = new ResultWaiters({ read, poll: { read } });
    const waits = [w.wait('a', { timeoutMs: null }), w.wait('b', { timeoutMs: 60_000 })];
    await vi.advanceTimersByTimeAsync(20);
    await w.close();
    expect(await Promise.all(waits)).toEqual([null, null]);
    const calls = read.mock.calls.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(read.mock.calls.length).toBe(calls);
    expect(vi.getTimerCount()).toBe(0);
  });
});
