/**
 * Settings resolved once per task: `task.options.x ?? conf.y` chains are computed when a worker starts
 * (for every registered task) instead of for every message. Tasks registered after the start are
 * resolved on first use, once.
 */
import type { AnyTask } from '../task/task.js';

export function perTask<T>(
  tasks: ReadonlyMap<string, AnyTask>,
  resolve: (task: AnyTask) => T,
): (task: AnyTask) => T {
  const cache = new Map<AnyTask, T>();
  for (const t of tasks.values()) cache.set(t, resolve(t));
  return (task) => {
    let v = cache.get(task);
    if (v === undefined) {
      v = resolve(task);
      cache.set(task, v);
    }
    return v;
  };
}
