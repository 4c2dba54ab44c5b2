/**
 * `GET /metrics`: when prom-client is installed, the Prometheus text of the app's metrics middleware
 * (middleware/metrics.ts, when the app uses it: a `worker --dashboard` process) followed by the
 * dashboard's own gauges (tasks held, events seen, workers online); 404 when prom-client is not
 * installed, as the route does not exist then.
 */
import type { ServerResponse } from 'node:http';
import type * as Prom from 'prom-client';
import type { App } from '../app/app.js';
import type { DashboardModel } from './model.js';

let prom: Promise<typeof Prom | null> | null = null;
const registries = new WeakMap<DashboardModel, Prom.Registry>();

function registryFor(p: typeof Prom, model: DashboardModel): Prom.Registry {
  let reg = registries.get(model);
  if (reg) return reg;
  reg = new p.Registry();
  const gauge = (name: string, help: string, read: () => number) =>
    new p.Gauge({
      name,
      help,
      registers: [reg as Prom.Registry],
      collect() {
        this.set(read());
      },
    });
  gauge(
    'celeriac_dashboard_tasks_held',
    'Tasks the dashboard holds in memory',
    () => model.store.state.tasks.size,
  );
  gauge(
    'celeriac_dashboard_events_seen',
    'Events the dashboard has received',
    () => model.store.state.eventCount,
  );
  gauge(
    'celeriac_dashboard_workers_online',
    'Workers whose heartbeat is within its window',
    () => model.store.state.aliveWorkers().length,
  );
  registries.set(model, reg);
  return reg;
}

export async function serveMetrics(
  app: App,
  model: DashboardModel,
  res: ServerResponse,
  headers: Record<string, string>,
): Promise<void> {
  prom ??= import('prom-client').then(
    (m) => (m as unknown as { default?: typeof Prom }).default ?? m,
    () => null,
  );
  const p = await prom;
  if (!p) {
    res
      .writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' })
      .end('/metrics needs prom-client: npm install prom-client\n');
    return;
  }
  const worker = app.middleware.find((m) => m.name === 'metrics') as
    | { text?: () => Promise<string> }
    | undefined;
  const parts = [await (worker?.text?.() ?? ''), await registryFor(p, model).metrics()];
  res
    .writeHead(200, { ...headers, 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
    .end(parts.filter(Boolean).join('\n'));
}
