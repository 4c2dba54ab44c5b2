import { describe, expect, it } from 'vitest';
import { renderDump, renderLine, renderScreen } from '../../src/cli/events-view.js';
import { type CeleryEvent, ClusterState } from '../../src/index.js';

const ev = (type: string, fields: Record<string, unknown>): CeleryEvent => ({
  type,
  hostname: 'w1@h',
  timestamp: 1000,
  local_received: 1000,
  clock: 1,
  ...fields,
});

describe('celeriac events output', () => {
  it('the screen lists workers with status and counts, then the latest tasks first, within the height', () => {
    let now = 1001;
    const s = new ClusterState({ now: () => now });
    s.event(ev('worker-heartbeat', { freq: 2, active: 1, processed: 41, loadavg: [0.5, 0.25, 0.125] }));
    s.event(ev('task-received', { uuid: 'a'.repeat(36), name: 'add', args: '(1, 2)', timestamp: 1000 }));
    s.event(ev('task-succeeded', { uuid: 'a'.repeat(36), result: '3', runtime: 0.25, timestamp: 1000.5 }));
    s.event(ev('task-failed', { uuid: 'b'.repeat(36), exception: "ValueError('x')", timestamp: 1000.7 }));
    const screen = renderScreen(s, { title: 'celeriac events', width: 120, height: 9, now: 1001 });
    const lines = screen.split('\n');
    expect(lines.length).toBeLessThanOrEqual(9);
    expect(lines[3]).toMatch(/^w1@h\s+ONLINE\s+1\s+41\s+0\.50 0\.25 0\.13\s+1\.0s ago/);
    const tasks = lines.slice(6);
    expect(tasks[0]).toContain("ValueError('x')");
    expect(tasks[1]).toMatch(/add\s+SUCCESS\s+0\.250s\s+3/);
    expect(lines.every((l) => l.length <= 120)).toBe(true);
    now = 1010;
    const later = renderScreen(s, { title: 't', width: 120, height: 20, now });
    expect(later).toMatch(/w1@h\s+OFFLINE/);
  });

  it('a line per event when piped; the dump is the event as sent', () => {
    const e = ev('task-succeeded', { uuid: 'u1', result: '3', runtime: 0.5 });
    expect(renderLine(e)).toBe('00:16:40.000 w1@h task-succeeded u1 result=3 runtime=0.5');
    expect(renderLine(ev('worker-heartbeat', { active: 0, processed: 2, freq: 2 }))).toMatch(
      /worker-heartbeat active=0 processed=2 freq=2$/,
    );
    expect(JSON.parse(renderDump(e))).toEqual({
      type: 'task-succeeded',
      hostname: 'w1@h',
      timestamp: 1000,
      clock: 1,
      uuid: 'u1',
      result: '3',
      runtime: 0.5,
    });
  });
});
