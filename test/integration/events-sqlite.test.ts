/**
 * Events on the embedded SQLite default: a worker with -E and a receiver on another app (another
 * connection to the same file, as another process would be) fold into a ClusterState.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import { waitUntil } from '../helpers/services.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('events on sqlite://', () => {
  it('a -E worker’s heartbeats and task events reach a receiver on the same file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-ev-'));
    dirs.push(dir);
    const url = `sqlite://${join(dir, 'b.db')}`;
    const app = new Celeriac({ broker: url, backend: url });
    const monitor = new Celeriac({ broker: url, backend: url });
    app.task('sq.add', (x: number, y: number) => x + y);
    const state = monitor.events.state();
    const recv = monitor.events.receiver({ handlers: { '*': state.event } });
    await recv.start();
    const w = app.worker({
      taskEvents: true,
      heartbeatInterval: 0.2,
      logger: createLogger('error', () => {}),
    });
    await w.start();
    try {
      const r = await app.sendTask('sq.add', [2, 2]);
      expect(await r.get({ timeout: 10 })).toBe(4);
      await waitUntil(() => state.tasks.get(r.id)?.state === 'SUCCESS', 10_000, 'task-succeeded');
      expect(state.tasks.get(r.id)).toMatchObject({
        name: 'sq.add',
        args: '(2, 2)',
        result: '4',
        worker: w.hostname,
      });
      await waitUntil(() => state.workers.get(w.hostname)?.processed === 1, 10_000, 'a heartbeat after it');
      expect(state.workers.get(w.hostname)?.alive).toBe(true);
    } finally {
      await w.stop();
      await recv.close();
      await Promise.all([app.close(), monitor.close()]);
    }
  });
});
