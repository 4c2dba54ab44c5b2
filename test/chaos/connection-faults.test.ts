/**
 * Connection faults between worker and broker (issue 17), through test/chaos/proxy.ts: every connection
 * dropped, the traffic stalled for seconds with the sockets open, then slowed. The worker must resume
 * each time, and nothing acked may be lost (acks-late: a task whose ack died with its connection runs
 * again, counted as a duplicate). SQLite has no connection to cut: it is not in this file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { inCI, uniq } from '../helpers/services.js';
import { available, type BrokerName, chaosBroker } from './brokers.js';
import { ChaosWorker, drained, median, publish, sleep, Tally, timeUntil } from './harness.js';
import { FaultProxy } from './proxy.js';
import { type ChaosRow, record, sized } from './report.js';

const rows: ChaosRow[] = [];
afterAll(() => record('connection-faults', rows));

const SENT = sized(300, 2000);
const PORTS: Record<string, number> = { redis: 6379, amqp: 5672 };

describe('connection faults through a TCP proxy', () => {
  for (const name of ['redis', 'amqp'] as BrokerName[]) {
    it(`${name}: drop, stall and slow; the worker resumes and nothing is lost`, async (ctx) => {
      if (!(await available(name))) {
        if (inCI) throw new Error(`${name} is not running`);
        ctx.skip();
      }
      const broker = await chaosBroker(name);
      const proxy = await FaultProxy.start(PORTS[name] as number);
      const tally = new Tally();
      const queue = uniq('faults');
      const viaProxy = broker.url.replace(`:${PORTS[name]}/`, `:${proxy.port}/`);
      // AMQP: a short heartbeat, so a stalled connection is noticed as dead in seconds, not a minute.
      const url = name === 'amqp' ? `${viaProxy}?heartbeat=2` : viaProxy;
      const w = new ChaosWorker({
        broker: url,
        queue,
        prefix: tally.prefix,
        concurrency: 4,
        prefetchMultiplier: 2,
      });
      const recoveries: number[] = [];
      const fault = async (what: () => void, settleMs = 0) => {
        const before = await tally.completions();
        const t0 = Date.now();
        what();
        if (settleMs) await sleep(settleMs);
        const took = await timeUntil(async () => (await tally.completions()) > before + 4, 60_000);
        if (took !== null) recoveries.push(Date.now() - t0);
        return took !== null;
      };
      try {
        await publish(broker.url, queue, SENT, 20);
        await w.ready();
        await timeUntil(async () => (await tally.completions()) >= SENT * 0.1, 60_000);
        const resumedAfterDrop = await fault(() => proxy.drop());
        const resumedAfterStall = await fault(() => proxy.stall(sized(3000, 8000)));
        const resumedAfterSlow = await fault(() => proxy.slow(30), 2000);
        proxy.slow(0);
        const drop2 = await fault(() => proxy.drop());
        const ok = await drained(tally, SENT, 120_000);
        const { lost, duplicated, lostIds } = await tally.outcome(SENT);
        rows.push({
          broker: name,
          case: 'TCP proxy: drop all, stall, slow (30 ms/chunk), drop again',
          sent: SENT,
          lost,
          duplicated,
          recoveryMs: median(recoveries),
          notes: `worker connections accepted by the proxy: ${proxy.accepted}; recovery = fault to the next completions (max ${Math.max(0, ...recoveries)} ms)`,
        });
        expect([resumedAfterDrop, resumedAfterStall, resumedAfterSlow, drop2]).toEqual([
          true,
          true,
          true,
          true,
        ]);
        expect(ok, `lost ids ${lostIds.slice(0, 20).join(',')}`).toBe(true);
        expect(lost).toBe(0);
      } finally {
        await w.stop();
        await proxy.close();
        await tally.dispose();
        await broker.dispose();
      }
    }, 400_000);
  }
});
