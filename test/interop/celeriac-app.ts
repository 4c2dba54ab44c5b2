// The Celeriac side of the interop tests: the same task names as py/pytasks.py. `app` reads its broker
// and backend from the environment (for `celeriac worker -A test/interop/celeriac-app.ts`); tests running
// a worker in-process call defineInteropTasks on an app of their own.
import { createHash } from 'node:crypto';
import { Celeriac, currentTask } from '../../src/index.js';

/** Not a Python builtin: Python clients see a synthetic exception class of this name. */
export class QuotaExceeded extends Error {
  override name = 'QuotaExceeded';
}

/** Task names in the order they started, per process (for the priority case). */
export const started: string[] = [];

export function defineInteropTasks(app: Celeriac): Celeriac {
  app.task('interop.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
  app.task('interop.kwargs', (a: unknown, b: unknown = null, c: unknown = null) => [a, b, c], {
    params: ['a', 'b', 'c'],
  });
  app.task('interop.fail', (msg: string) => {
    throw new TypeError(msg);
  });
  app.task('interop.fail_custom', (msg: string) => {
    throw new QuotaExceeded(msg);
  });
  app.task(
    'interop.retry',
    (succeedAfter: number) => {
      const task = currentTask();
      if (task.retries < succeedAfter) throw task.retry({ countdown: 0.2 });
      return task.retries;
    },
    { maxRetries: 5 },
  );
  app.task('interop.when', () => Date.now() / 1000);
  app.task('interop.size', (data: string) => ({
    len: [...data].length, // Python's len(): code points
    sha256: createHash('sha256').update(data, 'utf8').digest('hex'),
  }));
  app.task('interop.echo', (value: unknown) => value);
  app.task(
    'interop.order',
    (tag: string) => {
      started.push(tag);
      return [tag, Date.now() / 1000];
    },
    { params: ['tag'] },
  );
  app.task(
    'interop.slow',
    async (ms: number) => {
      await new Promise((r) => setTimeout(r, ms));
      return process.pid;
    },
    { acksLate: true, params: ['ms'] },
  );
  return app;
}

export const app = defineInteropTasks(new Celeriac());
