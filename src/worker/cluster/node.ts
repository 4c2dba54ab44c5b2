/**
 * The one node (`celeriac@host`) that Celery's tools see for a `--processes N` worker, however many
 * children consume. Responsibilities:
 *  - own the node's pidbox mailbox: `ping` and `shutdown` are answered here; every other request is fanned
 *    out to the children (supervisor.ts) and their replies merged into one reply: `active`, `reserved`,
 *    `scheduled` list every child's tasks; `stats` sums the counters and lists each child under
 *    `cluster.children`; `revoke --terminate` names the tasks whichever child ran them; a read
 *    (`registered`, `conf` …) takes the first child's; a change (`rate_limit` …) answers with the first
 *    error, else the first reply, and is kept to replay to children started later, so a restarted or
 *    recycled child has the node's rate limits, time limits, queues and revokes. (A child started later
 *    consumes before the replay lands: a revoke can miss it for that moment.);
 *  - send the node's worker-online, worker-heartbeat and worker-offline, with active and processed summed
 *    over the children. The children send their task events themselves, under the node's hostname: the hot
 *    path has no IPC hop;
 *  - record what only the parent knows: a task whose stuck child it killed (FAILURE TimeLimitExceeded, and
 *    task-failed), a task acked at start whose child died (FAILURE WorkerLostError).
 */
import type { App } from '../../app/app.js';
import type { ResultBackend } from '../../backends/backend.js';
import type { Broker } from '../../brokers/broker.js';
import { Mailbox, NO_REPLY } from '../../control/mailbox.js';
import { TimeLimitExceeded, WorkerLostError } from '../../errors.js';
import { EventDispatcher } from '../../events/dispatcher.js';
import { eventExchange, loadAverage, SOFTWARE_INFO } from '../../events/event.js';
import type { ControlHandler } from '../../middleware/middleware.js';
import { buildMeta, excRepr, serializeError } from '../../protocol/result.js';
import type { Logger } from '../../util/log.js';
import type { WorkerConfig } from '../config.js';
import type { Cluster, RunningTask } from './supervisor.js';

/** Requests that change a worker: kept (bounded) and replayed to each child started later. */
const STICKY = new Set([
  'rate_limit',
  'time_limit',
  'enable_events',
  'disable_events',
  'add_consumer',
  'cancel_consumer',
  'revoke',
  'pool_grow',
  'pool_shrink',
  'autoscale',
]);
const STICKY_KEPT = 10_000;
/** Replies that are lists of tasks: the node's is every child's. */
const LISTS = new Set(['active', 'reserved', 'scheduled', 'revoked']);

type Reply = { member: Cluster['members'][number]; reply: unknown };
const isError = (r: unknown) => r !== null && typeof r === 'object' && 'error' in r;
const SUMMED_POOL_KEYS = new Set([
  'max-concurrency',
  'free-threads',
  'waiting',
  'replaced',
  'lost',
  'killed',
  'terminated',
]);
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

export interface ClusterNodeOptions {
  readonly app: App;
  readonly cluster: Cluster;
  readonly config: WorkerConfig;
  readonly broker: Broker;
  readonly backend: ResultBackend | null;
  readonly logger: Logger;
  readonly startedAt: number;
  /** Remote `shutdown`: the CLI stops the node warm. */
  readonly shutdown: () => void;
}

export class ClusterNode {
  readonly #o: ClusterNodeOptions;
  #mailbox: Mailbox | null = null;
  #events: EventDispatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #sticky: Array<{ method: string; args: Record<string, unknown> }> = [];

  constructor(options: ClusterNodeOptions) {
    this.#o = options;
  }

  get hostname(): string {
    return this.#o.config.hostname;
  }

  async start(): Promise<void> {
    const { app, broker, config, logger } = this.#o;
    const conf = config.conf;
    if (!broker.broadcast || !broker.capabilities.broadcast) {
      logger.log(
        'info',
        `remote control and events off: the ${broker.transport} broker carries no broadcasts`,
      );
      return;
    }
    this.#events = new EventDispatcher({
      broadcast: broker.broadcast,
      exchange: eventExchange(broker.transport, conf.eventExchange),
      hostname: this.hostname,
      clock: app.clock,
      logger,
    });
    if (conf.workerEnableRemoteControl) {
      this.#mailbox = new Mailbox({
        broadcast: broker.broadcast,
        hostname: this.hostname,
        clock: app.clock,
        logger,
        handlers: this.#handlers(),
        exchange: conf.controlExchange,
        accept: conf.acceptContent,
        serializer: conf.taskSerializer,
        queueTtl: conf.controlQueueTtl,
        queueExpires: conf.controlQueueExpires,
      });
      await this.#mailbox.start();
    }
    if (conf.workerHeartbeat) {
      this.#beat('worker-online');
      this.#timer = setInterval(() => this.#beat('worker-heartbeat'), conf.workerHeartbeatInterval * 1000);
      this.#timer.unref();
    }
  }

  /** A child became ready: give it the changes the node was told about before it existed. */
  replay(member: Cluster['members'][number]): void {
    for (const { method, args } of this.#sticky)
      member.handle.send({ type: 'control', seq: 0, method, args });
  }

  /** Stop listening (first, so no request is fanned out to stopping children); offline goes at `close`. */
  async stopListening(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#mailbox
      ?.stop()
      .catch((err: Error) => this.#o.logger.log('warn', `remote control: ${err.message}`));
  }

  async close(): Promise<void> {
    if (this.#o.config.conf.workerHeartbeat) this.#beat('worker-offline');
    await this.#events?.close();
  }

  /** The stuck child running `task` was killed past its hard limit: what its own pool would have recorded. */
  async recordHardKill(task: RunningTask, seconds: number): Promise<void> {
    const err = new TimeLimitExceeded(seconds);
    this.#events?.send('task-failed', {
      uuid: task.id,
      exception: excRepr(serializeError(err)),
      traceback: '',
    });
    await this.#store(task, err);
  }

  async recordLost(task: RunningTask, how: string): Promise<void> {
    const err = new WorkerLostError(`Worker exited prematurely: ${how}.`);
    this.#events?.send('task-failed', {
      uuid: task.id,
      exception: excRepr(serializeError(err)),
      traceback: '',
    });
    await this.#store(task, err);
  }

  async #store(task: RunningTask, err: Error): Promise<void> {
    const backend = this.#o.backend;
    if (!backend) return;
    const meta = buildMeta(task.id, 'FAILURE', serializeError(err), null, new Date());
    await backend.store(meta, { expires: this.#o.config.conf.resultExpires }, null);
  }

  #beat(type: string): void {
    const { active, processed } = this.#o.cluster.totals();
    this.#events?.send(type, {
      freq: this.#o.config.conf.workerHeartbeatInterval,
      active,
      processed,
      loadavg: loadAverage(),
      ...SOFTWARE_INFO,
    });
  }

  /** Every request goes through `#answer`; the map only has to know the method names it is asked for. */
  #handlers(): ReadonlyMap<string, ControlHandler> {
    const handlers = new Map<string, ControlHandler>();
    const get = handlers.get.bind(handlers);
    // The mailbox looks a handler up by the request's method; answer every method, known here or not.
    handlers.get = (method: string) => get(method) ?? ((args) => this.#answer(method, args));
    handlers.set('ping', () => ({ ok: 'pong' }));
    handlers.set('shutdown', () => {
      this.#o.logger.log('warn', 'Got shutdown from remote');
      setImmediate(this.#o.shutdown);
      return NO_REPLY;
    });
    handlers.set('heartbeat', () => {
      this.#beat('worker-heartbeat');
      return undefined;
    });
    return handlers;
  }

  async #answer(method: string, args: Record<string, unknown>): Promise<unknown> {
    const replies = await this.#o.cluster.fanOut(method, args);
    if (STICKY.has(method)) {
      // A replayed revoke must not terminate anything: the task it named is not in the new child.
      const kept = method === 'revoke' ? { ...args, terminate: false } : args;
      this.#sticky.push({ method, args: kept });
      if (this.#sticky.length > STICKY_KEPT) this.#sticky.shift();
    }
    if (!replies.length) return { error: "Exception('no child process answered')" };
    if (method === 'stats') return this.#stats(replies);
    if (LISTS.has(method)) return replies.flatMap((r) => (Array.isArray(r.reply) ? r.reply : []));
    if (method === 'query_task') return Object.assign({}, ...replies.map((r) => r.reply));
    if (method === 'revoke' && args.terminate) return terminated(replies);
    return replies.find((r) => isError(r.reply))?.reply ?? replies[0]?.reply ?? null;
  }

  /** Celery's stats for the node: counters summed, the first child's settings, each child listed. */
  #stats(replies: Reply[]): Record<string, unknown> {
    const all = replies.map(
      (r) =>
        ({ ...(r.reply as Record<string, unknown>), member: r.member }) as Record<string, unknown> & {
          member: Reply['member'];
        },
    );
    const first = all[0] as Record<string, unknown>;
    const total: Record<string, number> = {};
    const rusage: Record<string, number> = {};
    let prefetch = 0;
    let brokerErrors = 0;
    /** Pool counters that add up over the children (the rest are settings, the same in each). */
    const poolSums: Record<string, number> = {};
    for (const s of all) {
      for (const [k, v] of Object.entries((s.total ?? {}) as Record<string, number>))
        total[k] = (total[k] ?? 0) + v;
      for (const [k, v] of Object.entries((s.rusage ?? {}) as Record<string, number>))
        rusage[k] = k === 'maxrss' ? Math.max(rusage[k] ?? 0, v) : (rusage[k] ?? 0) + v;
      prefetch += num(s.prefetch_count);
      brokerErrors += num(s['broker-errors']);
      for (const [k, v] of Object.entries((s.pool ?? {}) as Record<string, unknown>))
        if (typeof v === 'number' && SUMMED_POOL_KEYS.has(k)) poolSums[k] = (poolSums[k] ?? 0) + v;
    }
    const { cluster } = this.#o;
    const { active, processed } = cluster.totals();
    const { member: _m, ...rest } = first;
    return {
      ...rest,
      total,
      active,
      pid: process.pid,
      uptime: Math.round((Date.now() - this.#o.startedAt) / 1000),
      prefetch_count: prefetch,
      'broker-errors': brokerErrors,
      pool: {
        ...(first.pool as Record<string, unknown>),
        ...poolSums,
        processes: all.map((s) => s.member.pid),
      },
      rusage,
      cluster: {
        processes: cluster.members.filter((m) => m.state !== 'leaving').length,
        active,
        processed,
        ...cluster.counters,
        children: all.map((s) => ({
          pid: s.member.pid,
          slot: s.member.slot,
          state: s.member.state,
          active: s.member.running.size,
          processed: s.member.processed,
          uptime: s.uptime,
          total: s.total,
          prefetch_count: s.prefetch_count,
          rusage: pick(s.rusage as Record<string, number> | undefined, ['utime', 'stime', 'maxrss']),
        })),
      },
    };
  }
}

function pick(o: Record<string, number> | undefined, keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) if (o && k in o) out[k] = o[k] as number;
  return out;
}

/** `revoke --terminate`: the child that ran a task names it; the others know nothing of it. */
function terminated(replies: Reply[]): unknown {
  const found: string[] = [];
  for (const { reply } of replies) {
    const ok = (reply as { ok?: unknown } | null)?.ok;
    if (typeof ok === 'string' && ok.startsWith('terminate: ') && ok !== 'terminate: tasks unknown')
      found.push(ok.slice('terminate: '.length));
  }
  return { ok: found.length ? `terminate: ${found.join(', ')}` : 'terminate: tasks unknown' };
}
