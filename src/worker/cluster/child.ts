/**
 * The child side of `celeriac worker --processes N`: a whole worker (its own broker connection, prefetch,
 * acks, result writes and task events, under the node's one hostname) that the CLI starts in cluster-child
 * mode (CLUSTER_CHILD_ENV set), plus this file's link to the parent. Responsibilities:
 *  - report which tasks started and finished, batched: at most one IPC message per REPORT_EVERY_MS, not
 *    one per task or per loop turn (the parent needs them for the hard time limit, for `active` of a stuck child, and for the summed
 *    active/processed of its heartbeats). A task with a hard limit is reported at once, synchronously:
 *    if it blocks the loop right after it starts, a report left for the next turn would never leave;
 *  - answer the remote-control requests the parent forwards, with the worker's own handlers (the child
 *    has no mailbox of its own: WorkerOptions.controlVia 'parent');
 *  - settle a `doomed` task without running it: its child was killed past its hard time limit and the
 *    parent stored TimeLimitExceeded; with acksLate its message comes back, and running it again would
 *    only get this child killed too;
 *  - recycle: after maxTasksPerChild started tasks, or when its RSS passes maxMemoryPerChild, tell the
 *    parent (which starts a replacement at once) and stop warm: no new task starts, prefetched messages
 *    go back, running ones finish;
 *  - stop when told (warm or cold), and stop cold when the channel closes: the parent is gone (killed,
 *    crashed) and no child may outlive it.
 */

import { errorRepr, NO_REPLY, pyError } from '../../control/mailbox.js';
import { TimeLimitExceeded } from '../../errors.js';
import type { Middleware, TaskRun, WorkerMiddleware } from '../../middleware/middleware.js';
import { failure } from '../../task/outcome.js';
import type { Logger } from '../../util/log.js';
import type { Worker } from '../worker.js';
import type { FromChild, Started, ToChild } from './ipc.js';

export interface ChildLimits {
  /** Recycle after this many started tasks; null: never. */
  maxTasksPerChild: number | null;
  /** KiB of resident memory; null: no limit. */
  maxMemoryPerChild: number | null;
}

/**
 * Longest wait of a report. At 1,000 tasks/s a report per loop turn would be as many IPC messages a second,
 * each serialized here and parsed in the parent; one every 10 ms is at most 100. The cost: a child that dies
 * within 10 ms of starting a task acked at start leaves that task unlogged and unrecorded by the parent.
 */
const REPORT_EVERY_MS = 10;
/** How often the RSS is read when maxMemoryPerChild is set: reading it per task would cost a syscall each. */
const MEMORY_CHECK_MS = 1000;
/** A cold stop that has not ended the process by then (a task stuck in a loop) exits anyway. */
const ORPHAN_EXIT_MS = 5000;

export class ClusterChild {
  readonly #send: (m: FromChild) => void;
  readonly #limits: ChildLimits;
  readonly #logger: Logger;
  #worker: Worker | null = null;
  #started: Started[] = [];
  #ended: string[] = [];
  #flushQueued = false;
  #count = 0;
  #recycling = false;
  /** A stop that came while the worker was still starting (cold or not); carried out at `attach`. */
  #stopAsked: boolean | null = null;
  readonly #doomed = new Map<string, number>();

  constructor(limits: ChildLimits, logger: Logger) {
    const send = process.send?.bind(process);
    if (!send) throw new Error('a cluster child runs as a forked process with an IPC channel');
    this.#send = (m) => void send(m, undefined, undefined, () => {});
    this.#limits = limits;
    this.#logger = logger;
    // Listening from the start, not from `attach`: the parent sends `doomed` ids at spawn, and may ask for
    // a stop (or die) while this child is still booting.
    process.on('message', (m: ToChild) => this.#onMessage(m));
    process.on('disconnect', () => this.#orphaned());
    // Ctrl-C reaches the whole process group: the parent decides when children stop, not the terminal.
    process.on('SIGINT', () => {});
  }

  /** The middleware that reports and recycles; add it with app.use() before the worker starts. */
  middleware(): Middleware {
    return { name: 'cluster-child', worker: () => this.#hooks() };
  }

  /** Link the started worker to the parent: control, stop, orphan detection; then say ready. */
  attach(worker: Worker): void {
    this.#worker = worker;
    if (!process.connected) {
      this.#orphaned();
      return;
    }
    if (this.#stopAsked !== null) {
      void worker.stop({ cold: this.#stopAsked });
      return;
    }
    const max = this.#limits.maxMemoryPerChild;
    if (max !== null) {
      setInterval(() => {
        const kib = Math.round(process.memoryUsage.rss() / 1024);
        if (kib > max) this.#recycle(`memory ${kib}KiB over the limit of ${max}KiB`);
      }, MEMORY_CHECK_MS).unref();
    }
    this.#send({ type: 'ready', pid: process.pid });
  }

  #hooks(): WorkerMiddleware {
    return {
      received: (run: TaskRun) => {
        const seconds = this.#doomed.get(run.request.id);
        if (seconds === undefined) return null;
        this.#doomed.delete(run.request.id);
        this.#logger.log(
          'warn',
          `${run.request.name}[${run.request.id}] came back after its process was killed past its hard time limit: not run again`,
        );
        return failure(new TimeLimitExceeded(seconds), seconds, 'timeout');
      },
      started: (run: TaskRun) => {
        const hard = run.hardLimit ?? null;
        this.#started.push([run.request.id, run.request.name, hard, run.acked]);
        if (hard !== null) this.#flush();
        else this.#queueFlush();
        const max = this.#limits.maxTasksPerChild;
        if (max !== null && ++this.#count >= max) this.#recycle(`${this.#count} tasks (max ${max})`);
      },
      finished: (run: TaskRun) => {
        this.#ended.push(run.request.id);
        this.#queueFlush();
      },
    };
  }

  /** The parent is gone (killed, crashed): nobody supervises this child any more, so it stops. */
  #orphaned(): void {
    const worker = this.#worker;
    if (!worker) process.exit(1); // still booting: nothing consumed yet
    this.#logger.log('warn', 'the parent process is gone: cold shutdown');
    setTimeout(() => process.exit(1), ORPHAN_EXIT_MS).unref();
    void worker.stop({ cold: true });
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setTimeout(() => this.#flush(), REPORT_EVERY_MS);
  }

  #flush(): void {
    this.#flushQueued = false;
    if (!this.#started.length && !this.#ended.length) return;
    const m: FromChild = { type: 'report', started: this.#started, ended: this.#ended };
    this.#started = [];
    this.#ended = [];
    this.#send(m);
  }

  #recycle(why: string): void {
    if (this.#recycling) return;
    this.#recycling = true;
    this.#flush();
    this.#send({ type: 'recycle', why });
    // Not from inside the hook that noticed: the consumer is in the middle of starting this task.
    queueMicrotask(() => void this.#worker?.stop());
  }

  #onMessage(m: ToChild): void {
    switch (m.type) {
      case 'control':
        void this.#control(m.method, m.args).then((reply) =>
          this.#send({ type: 'controlReply', seq: m.seq, reply }),
        );
        return;
      case 'doomed':
        for (const [id, seconds] of m.tasks) this.#doomed.set(id, seconds);
        return;
      case 'stop':
        if (this.#worker) void this.#worker.stop({ cold: m.cold });
        else this.#stopAsked = m.cold || (this.#stopAsked ?? false);
        return;
    }
  }

  /** The reply the worker's own handler gives, in the mailbox's terms (errors as Python reprs). */
  async #control(method: string, args: Record<string, unknown>): Promise<unknown> {
    const handler = this.#worker?.controlHandler(method);
    if (!handler) return { error: errorRepr(pyError('KeyError', method)) };
    try {
      const reply = await handler(args);
      return reply === NO_REPLY || reply === undefined ? null : reply;
    } catch (err) {
      return { error: errorRepr(err) };
    }
  }
}
