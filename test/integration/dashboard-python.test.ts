/**
 * The dashboard sees a Python Celery 5.2 worker (-E, with heartbeats) on Redis: listed online as
 * Python (sw_ident py-celery), with its pool from `inspect stats`, and its tasks in the task list.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OverviewView, TaskListView } from '../../src/dashboard/api-types.js';
import { type DashboardServer, serveDashboard } from '../../src/dashboard/server.js';
import { Celeriac } from '../../src/index.js';
import { type Proc, startPythonWorker } from '../browser/harness.js';
import { deletePrefix, skipRedis } from '../helpers/redis.js';
import { inCI, uniq } from '../helpers/services.js';
import { pythonCeleryAvailable } from '../interop/harness.js';
import { client } from './dashboard-helpers.js';

const DB = 6;
const URL_ = `redis://127.0.0.1:6379/${DB}`;
const skip = skipRedis || (!pythonCeleryAvailable && !inCI);

describe.skipIf(skip)('dashboard with a Python Celery worker', () => {
  const queue = uniq('dash-py');
  const name = uniq('py');
  let py: Proc | undefined;
  let app: Celeriac;
  let server: DashboardServer;

  beforeAll(async () => {
    py = await startPythonWorker({ INTEROP_BROKER: URL_, INTEROP_BACKEND: URL_ }, queue, name);
    app = new Celeriac({ broker: URL_, backend: URL_, taskDefaultQueue: queue });
    server = await serveDashboard(app, { port: 0, pollSeconds: 1 });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await py?.stop();
    await app?.close();
    await deletePrefix(queue, DB);
  });

  it('lists it online as a Python worker and shows its tasks', async () => {
    const http = client(server.url);
    const o = await http
      .until<OverviewView>(
        'api/overview',
        (b) => b.workers.some((w) => w.hostname.startsWith(`${name}@`) && w.online && w.concurrency !== null),
        'the Python worker in the overview',
      )
      .catch(async (err: Error) => {
        const last = JSON.stringify((await http.get('api/overview')).body);
        throw new Error(`${err.message}; last overview ${last}; worker log:\n${py?.log().slice(-1500)}`);
      });
    const w = o.workers.find((x) => x.hostname.startsWith(`${name}@`));
    // Celery's solo pool's stats name no implementation (its prefork pool's do).
    expect(w).toMatchObject({ language: 'python', swIdent: 'py-celery', online: true, concurrency: 1 });
    const r = await app.sendTask('interop.add', [20, 22]);
    expect(await r.get({ timeout: 30 })).toBe(42);
    const list = await http.until<TaskListView>(
      'api/tasks?name=interop.add',
      (b) => b.tasks.some((t) => t.id === r.id && t.state === 'SUCCESS'),
      'the Python task in the list',
    );
    expect(list.tasks.find((t) => t.id === r.id)).toMatchObject({
      argsrepr: '(20, 22)',
      worker: w?.hostname,
    });
  }, 90_000);
});
