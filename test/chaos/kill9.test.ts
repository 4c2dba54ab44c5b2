/**
 * kill -9 loops (issue 17): a worker holding acks-late tasks is killed with SIGKILL mid-batch, a new one
 * is started, again and again (CHAOS_SIZE=full: ten kills; small: three). Nothing may be lost; tasks that
 * ran but whose ack died with the worker run again (counted), at most the prefetch window per kill.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { inCI, uniq } from '../helpers/services.js';
import { available, BROKERS, chaosBroker } from './brokers.js';
import { ChaosWorker, drained, median, publish, Tally, timeUntil } from './harness.js';
import { type ChaosRow, record, sized } from './report.js';

const rows: ChaosRow[] = [];

async function debugDump(url: string): Promise<string> {
  if (!url.startsWith('redis')) return '';
  const prefix = new URL(url).searchParams.get('global_keyprefix') ?? '';
  const { rawClient } = await import('../helpers/redis.js');
  const r = rawClient();
  const keys = await r.keys(`${prefix}*`);
  const out = [`keys: ${keys.join(' ')}`];
  out.push(`mutex ttl: ${await r.pttl(`${prefix}unacked_mutex`)}`);
  out.push(`index: ${JSON.stringify(await r.zrange(`${prefix}unacked_index`, 0, -1, 'WITHSCORES'))}`);
  out.push(`now: ${Date.now() / 1000}`);
  r.disconnect();
  return out.join('\n');
}
afterAll(() => record('kill9', rows));

const KILLS = sized(3, 10);
const SENT = sized(300, 1500);
const CONCURRENCY = 4;
const MULTIPLIER = 2;
const WINDOW = CONCURRENCY * MULTIPLIER;

describe('kill -9 loops, acks-late', () => {
  for (const name of BROKERS.filter((b) => !process.env.CHAOS_ONLY || b === process.env.CHAOS_ONLY)) {
    it(`${name}: ${KILLS} kills, nothing lost, duplicates within the prefetch window`, async (ctx) => {
      if (!(await available(name))) {
        if (inCI) throw new Error(`${name} is not running`);
        ctx.skip();
      }
      const broker = await chaosBroker(name);
      const tally = new Tally();
      const queue = uniq('k9');
      const workers: ChaosWorker[] = [];
      const spec = {
        broker: broker.url,
        queue,
        prefix: tally.prefix,
        concurrency: CONCURRENCY,
        prefetchMultiplier: MULTIPLIER,
      };
      try {
        await publish(broker.url, queue, SENT, 20);
        const recoveries: number[] = [];
        let next = new ChaosWorker(spec);
        workers.push(next);
        for (let k = 0; k < KILLS; k++) {
          const w = next;
          await w.ready();
          // Let it take a batch and run part of it, then kill it mid-batch.
          const before = await tally.completions();
          await timeUntil(async () => (await tally.completions()) >= before + 5, 20_000);
          const doneAtKill = await tally.completions();
          const killedAt = Date.now();
          await w.kill9();
          next = new ChaosWorker(spec);
          workers.push(next);
          const took = await timeUntil(async () => (await tally.completions()) > doneAtKill, 60_000);
          if (took !== null) recoveries.push(Date.now() - killedAt);
        }
        const ok = await drained(tally, SENT, Number(process.env.CHAOS_DRAIN_MS ?? 120_000));
        const { lost, duplicated, lostIds } = await tally.outcome(SENT);
        if (lost && process.env.CHAOS_DEBUG) console.log(await debugDump(broker.url));
        rows.push({
          broker: name,
          case: `kill -9 ×${KILLS} mid-batch, acks-late (prefetch ${WINDOW})`,
          sent: SENT,
          lost,
          duplicated,
          recoveryMs: median(recoveries),
          notes: `recovery = kill to the next completion, new worker start-up included (max ${Math.max(...recoveries, 0)} ms); visibility timeout ${broker.visibility} s`,
        });
        expect(ok, `lost ids: ${lostIds.slice(0, 20).join(',')}`).toBe(true);
        expect(lost).toBe(0);
        expect(duplicated).toBeLessThanOrEqual(KILLS * WINDOW);
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
        await tally.dispose();
        await broker.dispose();
      }
    }, 600_000);
  }
});
