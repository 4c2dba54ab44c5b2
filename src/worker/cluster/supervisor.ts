/**
 * The parent of `celeriac worker --processes N`: it consumes nothing and runs no task. Responsibilities:
 *  - keep N children, each a whole worker (child.ts); a child that exits unexpectedly is replaced, with a
 *    back-off when children die young (a broken app module or an unreachable broker must not make a fork
 *    loop), reset once a child has stayed up;
 *  - recycle: a child that reached maxTasksPerChild or maxMemoryPerChild says so and drains; its
 *    replacement starts at once, so the node's capacity does not dip while it leaves;
 *  - hard time limit, as a backstop: the child's own pool fails a task at its hard limit (the async pool
 *    frees the slot and aborts the task's signal), stores TimeLimitExceeded, acks, sends task-failed, all
 *    without touching its other tasks. Only a child that has not reported the end `HARD_LIMIT_MARGIN_MS`
 *    later is stuck (a synchronous loop blocks its event loop, so nothing in it can act): the parent
 *    SIGKILLs it (SIGTERM would wait for a handler that never runs), records TimeLimitExceeded for the
 *    task (`onHardKill`) and tells every child to settle that id unrun should it come back (acksLate).
 *    Killing is why this is a backstop and not the rule: one child runs up to `-c` tasks, and all of them
 *    die with it. Its other running tasks are logged one by one: acked at start (the default) they are
 *    lost, and recorded as WorkerLostError (`onLost`); acksLate ones are redelivered by the broker
 *    (RabbitMQ at once, Redis after visibility_timeout); prefetched ones were never acked and come back;
 *  - fan a control request out to every ready child and collect their replies (control.ts merges them);
 *  - stop: warm forwards a warm stop and waits (each child honours --shutdown-timeout, then goes cold);
 *    cold forwards a cold stop; any child still there after its grace is killed.
 * How a process is forked and killed is prefork.ts's forkProcess; what a child is, is the CLI in cluster-
 * child mode (src/cli/worker.ts).
 */

import type { Logger } from '../../util/log.js';
import { deferred } from '../pools/child-record.js';
import { forkProcess } from '../pools/prefork.js';
import { CLUSTER_CHILD_ENV, type FromChild, type ToChild } from './ipc.js';

/** Past a task's hard limit, how long the child's own pool gets to report the end before it is killed. */
export const HARD_LIMIT_MARGIN_MS = 2000;
/** A control request's replies are collected this long: Celery's clients wait 1 s for the node's reply. */
const CONTROL_TIMEOUT_MS = 800;
const RESPAWN_BACKOFF_MAX_MS = 10_000;
/** A child that lived this long before dying resets the back-off: it was not a boot failure. */
const HEALTHY_AFTER_MS = 10_000;
/** Doomed ids kept for children started later: most recent first, bounded. */
const DOOMED_KEPT = 10_000;

export interface RunningTask {
  readonly id: string;
  readonly name: string;
  readonly hard: number | null;
  readonly acked: boolean;
  /** Epoch ms when the parent heard of its start. */
  readonly since: number;
  timer: NodeJS.Timeout | null;
}

export interface Member {
  readonly slot: number;
  readonly handle: ReturnType<typeof forkProcess<ToChild, FromChild>>;
  pid: number | null;
  state: 'starting' | 'ready' | 'leaving';
  readonly running: Map<string, RunningTask>;
  processed: number;
  readonly bornAt: number;
  readonly ready: ReturnType<typeof deferred>;
  readonly replies: Map<number, (reply: unknown) => void>;
}

export interface ClusterOptions {
  readonly processes: number;
  /** The child: a module forked with these arguments (the CLI, re-run) and this environment. */
  readonly modulePath: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly execArgv: string[];
  readonly logger: Logger;
  /** Seconds a warm stop waits for children (their own shutdown timeout) before killing them. */
  readonly shutdownTimeout: number;
  readonly killGrace: number;
  /** A stuck child was killed past this task's hard limit: record its failure. */
  onHardKill(task: RunningTask, seconds: number): Promise<void>;
  /** A task acked at start died with its child: record it as lost. */
  onLost(task: RunningTask, how: string): Promise<void>;
  /** A child consumes now (the node replays to it what changed before it existed). */
  onReady(member: Member): void;
}

export class Cluster {
  readonly #o: ClusterOptions;
  readonly #members = new Set<Member>();
  readonly #slots: (Member | null)[];
  #seq = 0;
  #closed = false;
  #failures = 0;
  #respawns = new Set<NodeJS.Timeout>();
  #gone: Promise<void> | null = null;
  #goneResolve: (() => void) | null = null;
  readonly #doomed: Array<[string, number]> = [];
  /** Processed tasks of children that have left: the node's count must not go down when one does. */
  #processedGone = 0;
  readonly counters = { restarted: 0, recycled: 0, killed: 0, lost: 0 };

  constructor(options: ClusterOptions) {
    this.#o = options;
    this.#slots = Array.from({ length: options.processes }, () => null);
  }

  /** Start every child; fails when one exits before it is ready (the error is in its log lines). */
  async start(): Promise<void> {
    const boots = this.#slots.map((_, slot) => this.#spawn(slot).ready.promise);
    await Promise.all(boots);
  }

  get members(): readonly Member[] {
    return [...this.#members];
  }

  /** Tasks running in every child now, and processed by every child since the start. */
  totals(): { active: number; processed: number } {
    let active = 0;
    let processed = this.#processedGone;
    for (const m of this.#members) {
      active += m.running.size;
      processed += m.processed;
    }
    return { active, processed };
  }

  /** Send a control request to every ready child; resolves with the replies that came in time. */
  async fanOut(method: string, args: Record<string, unknown>): Promise<{ member: Member; reply: unknown }[]> {
    const live = [...this.#members].filter((m) => m.state !== 'starting');
    const asked = live.map(
      (member) =>
        new Promise<{ member: Member; reply: unknown } | null>((resolve) => {
          const seq = ++this.#seq;
          const timer = setTimeout(() => {
            member.replies.delete(seq);
            resolve(null);
          }, CONTROL_TIMEOUT_MS);
          member.replies.set(seq, (reply) => {
            clearTimeout(timer);
            resolve({ member, reply });
          });
          member.handle.send({ type: 'control', seq, method, args });
        }),
    );
    const got = await Promise.all(asked);
    return got.filter((g) => g !== null);
  }

  /**
   * Warm: children finish what they run (within their shutdown timeout); cold: they abort and requeue.
   * Called again with `cold` while a warm stop drains, it forwards the cold stop.
   */
  stop(cold: boolean): Promise<void> {
    this.#closed = true;
    for (const t of this.#respawns) clearTimeout(t);
    this.#respawns.clear();
    for (const m of this.#members) {
      m.state = 'leaving';
      m.handle.send({ type: 'stop', cold });
    }
    if (!this.#gone) {
      this.#gone = this.#members.size
        ? new Promise<void>((resolve) => {
            this.#goneResolve = resolve;
          })
        : Promise.resolve();
    }
    const graceMs = cold ? this.#o.killGrace + 5000 : this.#o.shutdownTimeout * 1000 + 10_000;
    const timer = setTimeout(() => {
      for (const m of this.#members) {
        this.#o.logger.log('warn', `child ${m.pid} did not stop in time: killing it`);
        m.handle.kill('SIGKILL');
      }
    }, graceMs);
    timer.unref();
    return this.#gone.finally(() => clearTimeout(timer));
  }

  #spawn(slot: number): Member {
    const env = { ...this.#o.env, [CLUSTER_CHILD_ENV]: String(slot) };
    const member: Member = {
      slot,
      handle: null as unknown as Member['handle'],
      pid: null,
      state: 'starting',
      running: new Map(),
      processed: 0,
      bornAt: Date.now(),
      ready: deferred(),
      replies: new Map(),
    };
    member.ready.promise.catch(() => {}); // replacements are awaited by nobody
    (member as { handle: Member['handle'] }).handle = forkProcess<ToChild, FromChild>(
      this.#o.modulePath,
      [...this.#o.args],
      env,
      { message: (m) => this.#onMessage(member, m), exit: (how) => this.#onExit(member, how) },
      { killGrace: this.#o.killGrace, serialization: 'json', execArgv: this.#o.execArgv },
    );
    this.#members.add(member);
    this.#slots[slot] = member;
    if (this.#doomed.length) member.handle.send({ type: 'doomed', tasks: this.#doomed });
    return member;
  }

  #onMessage(member: Member, m: FromChild): void {
    switch (m.type) {
      case 'ready':
        member.pid = m.pid;
        if (member.state === 'starting') member.state = 'ready';
        member.ready.resolve();
        this.#o.onReady(member);
        this.#o.logger.log('info', `child ${m.pid} (slot ${member.slot}) is consuming`);
        return;
      case 'report':
        for (const [id, name, hard, acked] of m.started) {
          const task: RunningTask = { id, name, hard, acked, since: Date.now(), timer: null };
          if (hard !== null)
            task.timer = setTimeout(() => this.#hardLimit(member, task), hard * 1000 + HARD_LIMIT_MARGIN_MS);
          member.running.set(id, task);
        }
        for (const id of m.ended) {
          const task = member.running.get(id);
          if (task?.timer) clearTimeout(task.timer);
          member.running.delete(id);
          member.processed++;
        }
        return;
      case 'controlReply': {
        const done = member.replies.get(m.seq);
        member.replies.delete(m.seq);
        done?.(m.reply);
        return;
      }
      case 'recycle':
        this.counters.recycled++;
        this.#o.logger.log('info', `child ${member.pid} recycles (${m.why}); starting its replacement`);
        this.#retire(member);
        return;
    }
  }

  /** Out of its slot; a replacement takes the slot now, the member exits when its worker has stopped. */
  #retire(member: Member): void {
    if (member.state === 'leaving') return;
    member.state = 'leaving';
    if (!this.#closed && this.#slots[member.slot] === member) this.#spawn(member.slot);
  }

  #hardLimit(member: Member, task: RunningTask): void {
    if (!member.running.has(task.id)) return;
    const seconds = task.hard as number;
    this.counters.killed++;
    this.#o.logger.log(
      'error',
      `Hard time limit (${seconds}s) exceeded for ${task.name}[${task.id}] and child ${member.pid} did not end it (its event loop is blocked): killing the child`,
    );
    member.running.delete(task.id);
    member.processed++;
    this.#doomed.unshift([task.id, seconds]);
    this.#doomed.length = Math.min(this.#doomed.length, DOOMED_KEPT);
    for (const m of this.#members)
      if (m !== member) m.handle.send({ type: 'doomed', tasks: [[task.id, seconds]] });
    this.#retire(member);
    member.handle.kill('SIGKILL');
    this.#o
      .onHardKill(task, seconds)
      .catch((err: Error) =>
        this.#o.logger.log('error', `could not record the time limit of ${task.id}: ${err.message}`),
      );
  }

  #onExit(member: Member, how: string): void {
    this.#members.delete(member);
    this.#processedGone += member.processed;
    for (const done of member.replies.values()) done({ error: `Exception('child exited: ${how}')` });
    member.replies.clear();
    for (const task of member.running.values()) {
      if (task.timer) clearTimeout(task.timer);
      this.counters.lost++;
      if (task.acked) {
        this.#o.logger.log(
          'error',
          `${task.name}[${task.id}] was running in child ${member.pid}, which exited (${how}): acked when it started, it is lost (WorkerLostError)`,
        );
        this.#o
          .onLost(task, how)
          .catch((err: Error) =>
            this.#o.logger.log('error', `could not record ${task.id} as lost: ${err.message}`),
          );
      } else {
        this.#o.logger.log(
          'warn',
          `${task.name}[${task.id}] was running in child ${member.pid}, which exited (${how}): not acked (acksLate), the broker redelivers it`,
        );
      }
    }
    member.running.clear();
    const booted = member.pid !== null;
    if (!booted) member.ready.reject(new Error(`a child exited before it was ready (${how})`));
    const unexpected = member.state !== 'leaving' && !this.#closed;
    if (unexpected && this.#slots[member.slot] === member) {
      const young = Date.now() - member.bornAt < HEALTHY_AFTER_MS;
      this.#failures = young ? this.#failures + 1 : 0;
      this.counters.restarted++;
      const delay = young ? Math.min(RESPAWN_BACKOFF_MAX_MS, 250 * 2 ** (this.#failures - 1)) : 0;
      this.#o.logger.log(
        'error',
        `child ${member.pid ?? '(starting)'} exited (${how}); restarting it${delay ? ` in ${delay} ms` : ''}`,
      );
      const t = setTimeout(() => {
        this.#respawns.delete(t);
        if (!this.#closed) this.#spawn(member.slot);
      }, delay);
      this.#respawns.add(t);
    }
    if (this.#closed && !this.#members.size) this.#goneResolve?.();
  }
}
