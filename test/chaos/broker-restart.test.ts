/**
 * Broker restarts mid-run (issue 17), on servers of our own (the shared ones are never restarted):
 *  - Redis with appendonly on (fsync always), killed with SIGKILL and restarted: nothing lost;
 *  - Redis without persistence: what waited in the queues is gone with the server (Redis-side loss,
 *    reported as such), but nothing the worker held may be lost (issue 17, defect 5);
 *  - RabbitMQ: the worker's connections force-closed on the shared node in a private vhost (small), and a
 *    private RabbitMQ node stopped and started (full): durable queues, persistent messages, nothing lost.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeConnectionsNamed, PrivateRabbit, privateVhost } from '../helpers/rabbit.js';
import { PrivateRedis, rawClient } from '../helpers/redis.js';
import { inCI, portOpen, uniq } from '../helpers/services.js';
import { ChaosWorker, drained, publish, sleep, Tally, timeUntil } from './harness.js';
import { type ChaosRow, chaosSize, record, sized } from './report.js';

const rows: ChaosRow[] = [];
afterAll(() => record('broker-restart', rows));

const { spawnSync } = await import('node:child_process');
const haveRedisServer = spawnSync('redis-server', ['--version']).status === 0;
const SENT = sized(300, 2000);

/** The chaos.work argument (our id) of each entry of the `unacked` hash. */
function heldIds(entries: string[]): number[] {
  return entries.map((e) => {
    const env = (JSON.parse(e) as [{ body: string }])[0];
    const body = JSON.parse(Buffer.from(env.body, 'base64').toString()) as [[number]];
    return body[0][0];
  });
}

describe.skipIf(!haveRedisServer && !inCI)('Redis restarts (private redis-server)', () => {
  for (const persistent of [true, false]) {
    it(`appendonly ${persistent ? 'on' : 'off'}: ${persistent ? 'nothing lost' : 'worker-side loss 0, Redis-side loss reported'}`, async () => {
      const server = await PrivateRedis.start({
        args: persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : [],
      });
      const url = `redis://127.0.0.1:${server.port}/0?visibility_timeout=8`;
      const tally = new Tally();
      const queue = uniq('restart');
      const admin = rawClient(0, server.port);
      const w = new ChaosWorker({
        broker: url,
        queue,
        prefix: tally.prefix,
        concurrency: 4,
        prefetchMultiplier: 4,
      });
      try {
        await publish(url, queue, SENT, 30);
        await w.ready();
        await timeUntil(async () => (await tally.completions()) >= SENT * 0.3, 60_000);
        if (process.env.CHAOS_DEBUG) console.log('completions before restart', await tally.completions());
        const held = heldIds(await admin.hvals('unacked'));
        const queued = await admin.llen(queue);
        const before = await tally.completions();
        const t0 = Date.now();
        await server.stop();
        await sleep(1000);
        await server.start();
        const back = Date.now() - t0;
        const took = await timeUntil(async () => (await tally.completions()) > before + 4, 60_000);
        const recoveryMs = took === null ? null : back + took;
        if (persistent) {
          const ok = await drained(tally, SENT, Number(process.env.CHAOS_DRAIN_MS ?? 120_000));
          const { lost, duplicated } = await tally.outcome(SENT);
          rows.push({
            broker: 'redis',
            case: 'Redis SIGKILL + restart, appendonly yes (fsync always)',
            sent: SENT,
            lost,
            duplicated,
            recoveryMs,
            notes: `${held.length} held by the worker and ${queued} queued at the kill; outage 1 s`,
          });
          expect(ok).toBe(true);
          expect(lost).toBe(0);
        } else {
          // What the worker held must all complete; what waited in the queue died with the server.
          const done = async () => {
            const m = new Set((await tally.outcome(SENT)).lostIds);
            return held.filter((i) => m.has(i));
          };
          await timeUntil(async () => (await done()).length === 0, 60_000);
          await sleep(2000); // nothing more can come: the queue is empty on the new server
          const workerLost = (await done()).length;
          const { lost, duplicated } = await tally.outcome(SENT);
          rows.push({
            broker: 'redis',
            case: 'Redis SIGKILL + restart, no persistence',
            sent: SENT,
            lost,
            duplicated,
            recoveryMs,
            notes: `worker-side loss ${workerLost} of the ${held.length} it held; Redis-side loss ${lost - workerLost} (${queued} were waiting in the queue when the server died with no data on disk)`,
          });
          expect(workerLost).toBe(0);
          expect(lost).toBeLessThanOrEqual(queued + 4 * 4);
        }
      } finally {
        if (process.env.CHAOS_DEBUG) console.log(w.output.slice(-4000));
        await w.stop();
        admin.disconnect();
        await tally.dispose();
        await server.dispose();
      }
    }, 400_000);
  }
});

const haveRabbit = await portOpen(5672);

describe.skipIf(!haveRabbit && !inCI)('RabbitMQ restarts', () => {
  it('the worker connections force-closed (shared node, private vhost): nothing lost', async () => {
    const v = await privateVhost();
    const name = uniq('chaos-conn');
    const url = `${v.url}?connection_name=${encodeURIComponent(name)}`;
    const tally = new Tally();
    const queue = uniq('close');
    const w = new ChaosWorker({
      broker: url,
      queue,
      prefix: tally.prefix,
      concurrency: 4,
      prefetchMultiplier: 4,
    });
    try {
      // 100 ms tasks, 4 at once: the run lasts long enough for every close to land mid-run.
      await publish(v.url, queue, SENT, 100);
      await w.ready();
      const recoveries: number[] = [];
      for (let k = 0; k < sized(2, 5); k++) {
        await timeUntil(async () => (await tally.completions()) >= (SENT * (k + 1)) / 8, 60_000);
        const before = await tally.completions();
        if (before > SENT - 20) break;
        const t0 = Date.now();
        await closeConnectionsNamed(name);
        const took = await timeUntil(async () => (await tally.completions()) > before + 4, 60_000);
        if (took !== null) recoveries.push(Date.now() - t0);
      }
      const ok = await drained(tally, SENT, 120_000);
      const { lost, duplicated } = await tally.outcome(SENT);
      rows.push({
        broker: 'amqp',
        case: `rabbitmqctl close_connection ×${recoveries.length} (the worker's, shared node)`,
        sent: SENT,
        lost,
        duplicated,
        recoveryMs: recoveries.length ? Math.max(...recoveries) : null,
        notes: 'a task whose ack died with the connection is redelivered: counted as duplicated',
      });
      expect(ok).toBe(true);
      expect(lost).toBe(0);
    } finally {
      await w.stop();
      await tally.dispose();
      await v.drop();
    }
  }, 400_000);

  it.skipIf(chaosSize() !== 'full')(
    'a private RabbitMQ node stopped and started: nothing lost',
    async () => {
      const node = await PrivateRabbit.create();
      await node.start();
      const tally = new Tally();
      const queue = uniq('node');
      const w = new ChaosWorker({
        broker: node.url,
        queue,
        prefix: tally.prefix,
        concurrency: 4,
        prefetchMultiplier: 4,
      });
      try {
        await publish(node.url, queue, SENT, 20);
        await w.ready();
        await timeUntil(async () => (await tally.completions()) >= SENT * 0.3, 60_000);
        const before = await tally.completions();
        const t0 = Date.now();
        await node.stop();
        await node.start();
        const back = Date.now() - t0;
        const took = await timeUntil(async () => (await tally.completions()) > before + 4, 120_000);
        const ok = await drained(tally, SENT, 180_000);
        const { lost, duplicated } = await tally.outcome(SENT);
        rows.push({
          broker: 'amqp',
          case: 'RabbitMQ node stop + start (private node)',
          sent: SENT,
          lost,
          duplicated,
          recoveryMs: took === null ? null : back + took,
          notes: 'durable queue, persistent messages; recovery includes the node start-up',
        });
        expect(ok).toBe(true);
        expect(lost).toBe(0);
      } finally {
        await w.stop();
        await tally.dispose();
        await node.destroy();
      }
    },
    600_000,
  );
});
