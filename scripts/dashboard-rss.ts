/**
 * The memory of a dashboard holding 10,000 tasks: feeds the full event sequence of N tasks (sent,
 * received, started, succeeded; one in ten failed with a traceback) through a real dashboard handler's
 * model, as its event receiver would, then reports the process's RSS and heap before and after.
 *
 *   node --expose-gc --import tsx scripts/dashboard-rss.ts [tasks=10000] [events-per-task-multiplier=1]
 *
 * Feeding twice the bound shows that memory stays flat once the oldest tasks are evicted.
 */
import { Celeriac } from '../src/index.js';

const n = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 1);
const gc = (globalThis as { gc?: () => void }).gc;
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
const measure = () => {
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
};

const app = new Celeriac({ broker: 'memory://' });
const h = app.dashboard();
const feed = h.model.store.event;
const before = measure();
const t0 = Date.now() / 1000;
const tb =
  'Traceback (most recent call last):\n  File "tasks.py", line 12, in run\n    raise ValueError(x)\nValueError: bad input\n';
let k = 0;
for (let r = 0; r < rounds; r++)
  for (let i = 0; i < n; i++, k++) {
    const uuid = `${String(k).padStart(8, '0')}-0000-4000-8000-${String(k).padStart(12, '0')}`;
    const at = t0 + k / 1000;
    const base = { uuid, hostname: 'celeriac@worker-1', local_received: at };
    feed({
      ...base,
      type: 'task-sent',
      timestamp: at,
      name: 'orders.process',
      args: `(${k}, 'order-${k}', {'sku': 'A-${k % 97}', 'qty': ${k % 7}})`,
      kwargs: "{'priority': 'normal'}",
      retries: 0,
      queue: 'celery',
      root_id: uuid,
    });
    feed({
      ...base,
      type: 'task-received',
      timestamp: at + 0.001,
      name: 'orders.process',
      args: `(${k}, 'order-${k}')`,
      kwargs: '{}',
      root_id: uuid,
      parent_id: null,
    });
    feed({ ...base, type: 'task-started', timestamp: at + 0.002 });
    if (k % 10 === 9)
      feed({
        ...base,
        type: 'task-failed',
        timestamp: at + 0.01,
        exception: "ValueError('bad input')",
        traceback: tb,
      });
    else
      feed({
        ...base,
        type: 'task-succeeded',
        timestamp: at + 0.01,
        result: `{'ok': True, 'id': ${k}}`,
        runtime: 0.008,
      });
  }
h.model.store.sample();
const after = measure();
const held = h.model.store.state.tasks.size;
process.stdout.write(
  `${k} tasks fed (${k * 4} events), ${held} held: RSS ${mb(before.rss)} → ${mb(after.rss)} (+${mb(after.rss - before.rss)}), heap ${mb(before.heap)} → ${mb(after.heap)} (+${mb(after.heap - before.heap)})\n`,
);
await h.close();
await app.close();
