/**
 * The task the bulk producer publishes: `bulk.record(batch, n)`, a stand-in for "process one row".
 * Results are ignored (a bulk import rarely reads 50 000 results back), so each task costs the broker a
 * message and nothing in the result backend.
 *
 * `celeriac worker -A examples/bulk-producer/tasks.ts -P async -c 200` consumes them.
 */
import { Celeriac, type CeleriacOptions } from '../../src/index.js';

export function createBulkApp(options: CeleriacOptions = {}) {
  const app = new Celeriac({ main: 'bulk', ...options });
  let processed = 0;
  const recordTask = app.task(
    'bulk.record',
    (batch: number, n: number) => {
      processed++;
      return batch * 1_000_000 + n;
    },
    { params: ['batch', 'n'], ignoreResult: true },
  );
  return { app, recordTask, processed: () => processed };
}

const bulk = createBulkApp();
export const app = bulk.app;
export const recordTask = bulk.recordTask;
