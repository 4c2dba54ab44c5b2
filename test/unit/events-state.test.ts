import { describe, expect, it } from 'vitest';
import { adjustTimestamp, utcoffset } from '../../src/events/event.js';
import { type CeleryEvent, ClusterState } from '../../src/index.js';

const ev = (type: string, fields: Record<string, unknown> = {}): CeleryEvent => ({
  type,
  hostname: 'w1@h',
  timestamp: 100,
  local_received: 100,
  clock: 1,
  ...fields,
});

describe('ClusterState', () => {
  it('a worker is alive within freq × 2 of its last heartbeat; offline keeps it, OFFLINE', () => {
    let now = 100;
    const s = new ClusterState({ now: () => now });
    s.event(ev('worker-online', { freq: 2, processed: 0, active: 0, sw_ident: 'celeriac' }));
    const w = s.workers.get('w1@h');
    expect(w?.alive).toBe(true);
    now = 103.9;
    expect(w?.alive).toBe(true);
    now = 104.1;
    expect(w?.status).toBe('OFFLINE');
    s.event(ev('worker-heartbeat', { freq: 2, processed: 7, timestamp: 104, local_received: 104 }));
    expect(w).toMatchObject({ alive: true, processed: 7, sw_ident: 'celeriac' });
    s.event(ev('worker-offline', { timestamp: 105, local_received: 105 }));
    expect(s.workers.get('w1@h')?.alive).toBe(false);
    s.event(ev('worker-offline', { hostname: 'never@h' }));
    expect(s.workers.has('never@h')).toBe(false);
  });

  it('keeps the last 4 heartbeats, sorted, whatever order they come in', () => {
    const s = new ClusterState();
    for (const t of [5, 1, 3, 2, 4, 6]) s.event(ev('worker-heartbeat', { local_received: t, timestamp: t }));
    expect(s.workers.get('w1@h')?.heartbeats).toEqual([3, 4, 5, 6]);
  });

  it('out of order: a late task-started does not move SUCCESS back; a late task-received adds only its fields', () => {
    const s = new ClusterState();
    s.event(ev('task-succeeded', { uuid: 'a', result: '4', runtime: 0.5, timestamp: 3 }));
    s.event(ev('task-started', { uuid: 'a', timestamp: 2 }));
    s.event(ev('task-received', { uuid: 'a', name: 'add', args: '(2, 2)', result: 'nope', timestamp: 1 }));
    const t = s.tasks.get('a');
    expect(t).toMatchObject({ state: 'SUCCESS', name: 'add', args: '(2, 2)', result: '4', runtime: 0.5 });
    expect(t).toMatchObject({ received: 1, started: 2, succeeded: 3, timestamp: 3, worker: 'w1@h' });
    expect(s.taskCount).toBe(1);
    expect(s.eventCount).toBe(3);
  });

  it('RETRY is always replaced, and children are linked by parent_id', () => {
    const s = new ClusterState();
    s.event(ev('task-received', { uuid: 'p', name: 'parent' }));
    s.event(ev('task-retried', { uuid: 'p', exception: "ValueError('x')" }));
    s.event(ev('task-received', { uuid: 'p' }));
    expect(s.tasks.get('p')?.state).toBe('RECEIVED');
    s.event(ev('task-received', { uuid: 'c', parent_id: 'p' }));
    expect([...(s.tasks.get('p')?.children ?? [])]).toEqual(['c']);
  });

  it('holds at most maxTasks tasks and maxWorkers workers, the oldest out first', () => {
    const s = new ClusterState({ maxTasks: 3, maxWorkers: 2 });
    for (let i = 0; i < 5; i++) s.event(ev('task-received', { uuid: `t${i}`, hostname: `w${i}` }));
    expect([...s.tasks.keys()]).toEqual(['t2', 't3', 't4']);
    expect([...s.workers.keys()]).toEqual(['w3', 'w4']);
    expect(s.latestTasks(2).length).toBe(2);
    s.clear();
    expect(s.tasks.size + s.workers.size).toBe(0);
  });

  it('timestamps move by the sender’s utcoffset against ours (Celery’s adjust_timestamp)', () => {
    expect(adjustTimestamp(1000, 2, 0)).toBe(1000 - 7200);
    expect(adjustTimestamp(1000, 0, 0)).toBe(1000);
    expect(utcoffset(new Date())).toBe(Math.floor(new Date().getTimezoneOffset() / 60));
  });
});
