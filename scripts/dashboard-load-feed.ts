/**
 * The synthetic load both dashboard load scripts feed into the model: every 100 ms, 100 tasks as a
 * task-received and a task-succeeded event each (about 1,000 tasks and 2,000 events a second).
 */
import type { CeleryEvent } from '../src/events/event.js';

/** Start feeding `feed`; `stop()` ends it and returns how many tasks were fed. */
export function feedLoad(feed: (event: CeleryEvent) => void): { stop(): number } {
  let k = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 100; i++, k++) {
      const at = Date.now() / 1000;
      const base = { uuid: `id-${k}`, hostname: 'w@h', timestamp: at, local_received: at };
      feed({ ...base, type: 'task-received', name: 'load.t', args: `(${k},)`, kwargs: '{}' });
      feed({ ...base, type: 'task-succeeded', result: '1', runtime: 0.001 });
    }
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return k;
    },
  };
}
