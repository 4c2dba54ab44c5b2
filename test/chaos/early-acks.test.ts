/**
 * Early acks (the default, acks_late off): a task is acked when it starts, so a task running when its
 * worker is killed with SIGKILL is lost, as Celery's semantics say; prefetched tasks that had not started
 * are not acked yet and come back. This case measures it, so docs/reliability.md can state the figure.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { inCI, uniq, waitUntil } from '../helpers/services.js';
import { available, BROKERS, chaosBroker } from './brokers.js';
import { ChaosWorker, drained, publish, sleep, Tally } from './harness.js';
import { type ChaosRow, record, sized } from './report.js';

const rows: ChaosRow[] = [];
afterAll(() => record('early-acks', rows));

const SENT = sized(40, 200);
const CONCURRENCY = 8;
const TASK_MS = 1500;

describe('early acks and SIGKILL', () => {
  for (const name of BROKERS) {
    it(`${name}: the tasks running at the kill are lost, the prefetched ones are not`, async (ctx) => {
      if (!(await available(name))) {
        if (inCI) throw new Error(`${name} is not running`);
        ctx.skip();
      }
      const broker = await chaosBroker(name);
      const tally = new Tally();
      const queue = uniq('early');
      const spec = {
        broker: broker.url,
        queue,
        prefix: tally.prefix,
        acksLate: false,
        concurrency: CONCURRENCY,
        prefetchMultiplier: 2,
      };
      const workers: ChaosWorker[] = [];
      try {
        await publish(broker.url, queue, SENT, TASK_MS);
        const first = new ChaosWorker(spec);
        workers.push(first);
        await first.ready();
        // Kill while a full pool of tasks is running.
        await waitUntil(
          async () => (await tally.started()).size >= CONCURRENCY,
          30_000,
          'a full pool running',
        );
        // The early acks go out on the next loop turn after the start: give them a moment to land (a
        // kill inside that window redelivers the task instead, which is not what this case measures).
        await sleep(300);
        const started = await tally.started();
        await first.kill9();
        const done = new Set((await tally.outcome(SENT)).lostIds);
        const runningAtKill = [...started.keys()].filter((i) => done.has(i));
        const second = new ChaosWorker(spec);
        workers.push(second);
        // Everything but the tasks that were running comes back and runs; then give those a visibility
        // timeout and a bit to show up, which they must not.
        await drained(tally, SENT - runningAtKill.length, 90_000);
        await sleep(broker.visibility * 1000 + 1500);
        const { lost, duplicated, lostIds } = await tally.outcome(SENT);
        rows.push({
          broker: name,
          case: `early acks: kill -9 with ${CONCURRENCY} tasks running`,
          sent: SENT,
          lost,
          duplicated,
          notes: `${runningAtKill.length} running at the kill; lost = exactly those (expected by Celery's semantics)`,
        });
        // Lost are exactly the tasks that were running (acked, not finished) at the kill.
        expect(lostIds.sort((a, b) => a - b)).toEqual(runningAtKill.sort((a, b) => a - b));
        expect(lost).toBeGreaterThan(0);
        expect(duplicated).toBe(0);
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
        await tally.dispose();
        await broker.dispose();
      }
    }, 300_000);
  }
});
