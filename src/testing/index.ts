/**
 * `celeriac/testing`: helpers for users' own tests. An app on the in-process memory broker and result
 * store (no server, isolated by a unique name), and a worker in the same process whose log lines are
 * kept for assertions and which can be waited on until it is idle. Real Celeriac code runs end to end:
 * nothing here is a mock.
 *
 *   const app = testApp();                   // memory:// broker and backend of its own
 *   const add = app.task('add', (x: number, y: number) => x + y);
 *   const w = await startTestWorker(app);
 *   expect(await (await add.delay(2, 3)).get({ timeout: 5 })).toBe(5);
 *   await w.stop(); await app.close();
 */
import { randomUUID } from 'node:crypto';
import type { App } from '../app/app.js';
import { Celeriac, type CeleriacOptions } from '../celeriac.js';
import { createLogger, type LogLevel } from '../util/log.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';

export { createMemoryBroker, MemoryStore } from '../brokers/memory/index.js';

/** A `memory://` URL no other test shares (broker and backend namespaces are per URL). */
export function memoryUrl(prefix = 'test'): string {
  return `memory://${prefix}-${randomUUID()}`;
}

/** An app on its own memory broker and result store; `options` may override anything. */
export function testApp(options: CeleriacOptions = {}): Celeriac {
  const url = memoryUrl();
  return new Celeriac({ broker: url, backend: url, ...options });
}

export interface TestWorker {
  readonly worker: Worker;
  /** Every log line of the worker, as written. */
  readonly logs: string[];
  /** Resolves once the worker's queues are empty and nothing is running, waiting or held. */
  idle(options?: { timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** Start a worker for `app` in this process (async pool unless `options.pool` says otherwise; no mingle unless `mingle: true`). */
export async function startTestWorker(
  app: App,
  options: WorkerOptions & { logLevel?: LogLevel } = {},
): Promise<TestWorker> {
  const logs: string[] = [];
  const worker = new Worker(app, {
    logger: createLogger(options.logLevel ?? 'info', (l) => logs.push(l)),
    // Mingle's hello waits 1 s for neighbours; a test worker starts without it unless asked.
    mingle: false,
    ...options,
  });
  await worker.start();
  const broker = await app.broker();
  return {
    worker,
    logs,
    async idle({ timeoutMs = 10_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = worker.stats() as { active?: number; reserved?: number; scheduled?: number };
        const busy = (s.active ?? 0) + (s.reserved ?? 0) + (s.scheduled ?? 0);
        let queued = 0;
        for (const q of worker.queues) queued += await broker.size(q);
        if (busy === 0 && queued === 0) return;
        if (Date.now() > deadline)
          throw new Error(`worker not idle after ${timeoutMs} ms (${busy} busy, ${queued} queued)`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    stop: () => worker.stop(),
  };
}
