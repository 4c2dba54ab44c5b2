/** An isolated app + worker on the memory broker, with captured log lines. */
import { Celeriac, type CeleriacOptions } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker, WorkerOptions } from '../../src/worker/worker.js';
import { uniq } from './services.js';

export interface TestApp {
  app: Celeriac;
  logs: string[];
  startWorker(options?: WorkerOptions): Promise<Worker>;
  close(): Promise<void>;
}

export function memoryApp(settings: CeleriacOptions = {}): TestApp {
  const ns = uniq('app');
  const app = new Celeriac({ broker: `memory://${ns}`, backend: `memory://${ns}`, ...settings });
  const logs: string[] = [];
  const workers: Worker[] = [];
  return {
    app,
    logs,
    async startWorker(options = {}) {
      // No mingle unless asked: its hello waits 1 s for neighbours a test rarely has.
      const w = app.worker({ logger: createLogger('debug', (l) => logs.push(l)), mingle: false, ...options });
      await w.start();
      workers.push(w);
      return w;
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await app.close();
    },
  };
}
