/**
 * Entry point of a pool child: a process forked by the prefork pool or a thread of the threads pool.
 * Responsibilities:
 *  - load the app module once (TypeScript through tsx, as the worker loads it) and say `ready`;
 *  - run each job it is sent through an Executor, as the async pool does, so outcomes are the
 *    same whichever pool ran the task; several jobs may run at once (childConcurrency);
 *  - enforce the soft time limit: abort the task's signal with SoftTimeLimitExceeded;
 *  - relay updateState to the parent and wait for the store;
 *  - report its memory after each task when a memory limit is set.
 * The parent owns every other decision: recycling (max tasks, max memory), the hard time limit (it kills
 * this child), replacement. A child exits only when told to (`shutdown`), or when its parent is gone.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { App } from '../../app/app.js';
import { SoftTimeLimitExceeded } from '../../errors.js';
import { loadApp } from '../../loader/app.js';
import { currentTaskFields } from '../../task/context.js';
import { failure, type Outcome } from '../../task/outcome.js';
import { LazyAbort } from '../../util/lazy-abort.js';
import { createLogger, type Logger, type LogLevel, parseLogFormat } from '../../util/log.js';
import { openLogFile, reopenOnHangup } from '../../util/log-file.js';
import { setLongTimeout } from '../../util/long-timeout.js';
import { Executor } from '../executor.js';
import type { ChildInit, FromChild, ToChild } from './ipc.js';

interface Channel {
  readonly id: number;
  send(m: FromChild): void;
  listen(fn: (m: ToChild) => void): void;
  memoryKiB(): number;
}

function processChannel(): Channel {
  const send = process.send?.bind(process);
  if (!send) throw new Error('child.ts runs as a forked process or a worker thread');
  // Ctrl-C reaches the whole process group: the worker decides when children stop, not the terminal.
  process.on('SIGINT', () => {});
  // The worker died without stopping us (SIGKILL, crash): nobody will send work again.
  process.on('disconnect', () => process.exit(0));
  return {
    id: process.pid,
    send: (m) => void send(m),
    listen: (fn) => process.on('message', (m) => fn(m as ToChild)),
    memoryKiB: () => process.resourceUsage().maxRSS,
  };
}

function threadChannel(port: NonNullable<typeof parentPort>): Channel {
  return {
    id: threadId,
    send: (m) => port.postMessage(m),
    listen: (fn) => port.on('message', (m: ToChild) => fn(m)),
    memoryKiB: () => {
      const h = getHeapStatistics();
      return Math.round((h.total_heap_size + h.external_memory) / 1024);
    },
  };
}

/** Results cross the boundary as the JSON serializer would store them, so every pool stores the same bytes. */
function portable(app: App, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || app.conf.resultSerializer !== 'json') return value;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : JSON.parse(text);
  } catch {
    return value; // cycles, BigInt: let the worker's backend report it, as it would in-process
  }
}

async function main(): Promise<void> {
  const channel = parentPort ? threadChannel(parentPort) : processChannel();
  const init: ChildInit = parentPort
    ? (workerData as ChildInit)
    : (JSON.parse(process.argv[2] ?? '{}') as ChildInit);
  if (!parentPort) process.title = `celeriac child (${init.hostname})`;
  // Read only when a limit needs it: getrusage per task was 13 % of a busy child's CPU (feed hub profile).
  const memory = init.measureMemory ? () => channel.memoryKiB() : () => 0;
  let app: App;
  try {
    app = (await loadApp(init.appModule)).app;
  } catch (err) {
    const e = err as Error;
    channel.send({ type: 'error', message: e.message ?? String(err), stack: e.stack ?? null });
    process.exit(1);
  }
  const logger = childLogger(
    app.conf.workerLogLevel,
    init.hostname,
    parentPort ? `ThreadPoolWorker-${threadId}` : `ForkPoolWorker-${process.pid}`,
  );
  const executor = new Executor(app, logger);
  // Celery's worker_process_init: the child is ready to run tasks (connections opened here are its own).
  app.signals.emit('worker_process_init', { sender: null, pid: process.pid }, logger);
  const running = new Set<number>();
  const stateCalls = new Map<number, { resolve(): void; reject(err: Error): void }>();
  let calls = 0;
  let shuttingDown = false;
  const exitIfIdle = () => {
    if (shuttingDown && running.size === 0) process.exit(0);
  };

  const run = async (seq: number, msg: Extract<ToChild, { type: 'run' }>): Promise<void> => {
    const controller = new LazyAbort();
    const soft =
      msg.softLimit !== null
        ? setLongTimeout(
            () => controller.abort(new SoftTimeLimitExceeded(msg.softLimit as number)),
            msg.softLimit * 1000,
          )
        : null;
    let outcome: Outcome = await executor
      .run(msg.request, {
        hostname: init.hostname,
        abort: controller,
        state: {
          updateState: (state, meta) =>
            new Promise<void>((resolve, reject) => {
              const call = ++calls;
              stateCalls.set(call, { resolve, reject });
              channel.send({ type: 'updateState', seq, call, state, meta: portable(app, meta) });
            }),
        },
      })
      .catch((err: unknown) => failure(err, 0));
    soft?.clear();
    if (outcome.kind === 'success') outcome = { ...outcome, value: portable(app, outcome.value) };
    try {
      channel.send({ type: 'outcome', seq, outcome, memory: memory() });
    } catch (err) {
      // The value cannot be cloned (a function, a socket): fail the task rather than lose it.
      const why = new TypeError(
        `cannot send the result of ${msg.request.name} to the worker: ${(err as Error).message}`,
      );
      channel.send({
        type: 'outcome',
        seq,
        outcome: failure(why, outcome.runtime),
        memory: memory(),
      });
    }
  };

  channel.listen((m) => {
    switch (m.type) {
      case 'run':
        running.add(m.seq);
        void run(m.seq, m).finally(() => {
          running.delete(m.seq);
          exitIfIdle();
        });
        return;
      case 'stateDone': {
        const call = stateCalls.get(m.call);
        stateCalls.delete(m.call);
        if (m.error === null) call?.resolve();
        else call?.reject(new Error(m.error));
        return;
      }
      case 'shutdown':
        shuttingDown = true;
        exitIfIdle();
        return;
    }
  });
  channel.send({ type: 'ready', id: channel.id });
}

await main();

/**
 * The child's logger, in the format and to the file the worker's command line chose (`--log-format`,
 * `--log-file`, passed down in CELERIAC_LOG_FORMAT / CELERIAC_LOG_FILE): one stream for log shippers.
 */
function childLogger(level: LogLevel, hostname: string, processName: string): Logger {
  const path = process.env.CELERIAC_LOG_FILE;
  const file = path ? openLogFile(path) : null;
  const logger = createLogger(level, file ? (l) => file.write(l) : undefined, processName, {
    format: parseLogFormat(process.env.CELERIAC_LOG_FORMAT || 'plain'),
    worker: () => hostname,
    context: currentTaskFields,
  });
  if (file) reopenOnHangup(file, (err) => logger.log('error', `could not reopen ${path}: ${err.message}`));
  return logger;
}
