/**
 * The app: settings, the task registry, middleware and signals, and lazily opened connections to the
 * broker and result backend. Passed explicitly (never global). Responsibilities:
 *  - define tasks (`task`) and validate their options eagerly against what the core and every middleware
 *    declare they own;
 *  - build Celery messages and route them (publishing is internal: tasks, canvas and workers reach it
 *    through task/publisher.ts), sending the publish signals;
 *  - own one broker and one backend connection, opened on first use and closed by `close()`.
 * The pieces of those it delegates live beside it: building and routing a message (app/messages.ts),
 * the publish hooks and signals (app/publish-listeners.ts), opening each connection (app/connections.ts).
 * Workers and canvas build on the app from above (src/celeriac.ts puts them together); the app imports
 * neither.
 */

import { hostname as osHostname } from 'node:os';
import { threadId } from 'node:worker_threads';
import type { ResultBackend } from '../backends/backend.js';
import type { Broker } from '../brokers/broker.js';
import { Control } from '../control/client.js';
import { ConfigError } from '../errors.js';
import { AppEvents } from '../events/index.js';
import type { Middleware } from '../middleware/middleware.js';
import { uuid, uuid3Oid } from '../protocol/oid.js';
import { recordChildId } from '../task/context.js';
import { CORE_TASK_OPTION_KEYS, type SendOptions, type TaskOptions } from '../task/options.js';
import { bindInternals, type Call, type PublishedTask, type TaskPublisher } from '../task/publisher.js';
import { AsyncResult, type RevokeOptions, withWaitAhead } from '../task/result.js';
import { type AnyTask, Task, type TaskFn } from '../task/task.js';
import { WaitAhead } from '../task/wait-ahead.js';
import { LamportClock } from '../util/lamport.js';
import type { Logger } from '../util/log.js';
import { checkKeys, resolveSettings, type Settings, type SettingsInput } from './config.js';
import { openBackend, openBroker } from './connections.js';
import { Messages } from './messages.js';
import { type BeatEntryInput, type PeriodicOptions, type PeriodicTarget, periodicInput } from './periodic.js';
import { PublishListeners } from './publish-listeners.js';
import { type SignalHandler, type SignalName, Signals } from './signals.js';

export interface CeleriacOptions extends SettingsInput {
  /** The app's name, used in logs. */
  main?: string;
  /** Middleware added after the built-ins, as `app.use()` would (before any task is defined). */
  middleware?: readonly Middleware[];
}

export class App {
  readonly conf: Readonly<Settings>;
  readonly main: string;
  /** Celery's `reply_to` oid, stable for this app in this process (the rpc:// reply queue). */
  readonly oid: string;
  /** Celery's signals: `app.on(name, handler)` adds to them. */
  readonly signals = new Signals();
  /** The app's Lamport clock: events and remote-control messages carry it (util/lamport.ts). */
  readonly clock = new LamportClock();
  /** Celery's events, the reading side: `app.events.receiver({ handlers })`, `app.events.state()`. */
  readonly events: AppEvents = new AppEvents(this);
  readonly #tasks = new Map<string, AnyTask>();
  readonly #periodic = new Map<string, BeatEntryInput>();
  readonly #middleware: Middleware[] = [];
  readonly #listeners = new PublishListeners(this.signals);
  /** Task option names the core and the middleware own (rebuilt by `use`). */
  #taskOptionKeys: readonly string[] = CORE_TASK_OPTION_KEYS;
  #broker: Promise<Broker> | null = null;
  #control: Control | null = null;
  #backend: Promise<ResultBackend> | null = null;
  readonly #messages: Messages;
  readonly #publisher: TaskPublisher;
  readonly #waitAhead = new WaitAhead();

  constructor(options: CeleriacOptions = {}, builtins: readonly Middleware[] = []) {
    const { main, middleware, ...settings } = options;
    this.conf = resolveSettings(settings);
    this.main = main ?? 'celeriac';
    this.oid = uuid3Oid(`${osHostname()}-${process.pid}-${threadId}-${uuid()}`);
    this.#messages = new Messages(this.conf, this.oid);
    for (const m of [...builtins, ...(middleware ?? [])]) this.use(m);
    const internals = {
      buildMessage: (name: string, args: unknown[], o: SendOptions, task?: PublishedTask) =>
        this.#messages.build(name, args, o, task),
      route: (name: string, o: SendOptions, task?: PublishedTask) => this.#messages.route(name, o, task),
      publish: <R>(name: string, args: unknown[], o: SendOptions, task?: PublishedTask) =>
        this.#publish<R>(name, args, o, task),
      publishMany: <R>(calls: readonly Call[], task?: PublishedTask) => this.#publishMany<R>(calls, task),
    };
    this.#publisher = internals;
    bindInternals(this, internals);
  }

  /**
   * Remote control of the workers (Celery's app.control): `ping()`, `inspect().active()`, `revoke(id)`,
   * `rateLimit(name, '10/m')`, `shutdown()` … on brokers that carry broadcasts (docs/monitoring.md).
   */
  get control(): Control {
    this.#control ??= new Control(this);
    return this.#control;
  }

  /** The registered tasks by name. */
  get tasks(): ReadonlyMap<string, AnyTask> {
    return this.#tasks;
  }

  /** Built-in middleware first, then users' in the order added. */
  get middleware(): readonly Middleware[] {
    return this.#middleware;
  }

  /**
   * Add a middleware (the full hook interface; see middleware/middleware.ts). Add it before defining the
   * tasks that use its options, and before starting workers: a worker builds its hooks when it starts.
   */
  use(mw: Middleware): this {
    if (!mw || typeof mw.name !== 'string' || !mw.name)
      throw new ConfigError('app.use(middleware): a middleware needs a non-empty `name`');
    if (this.#middleware.some((m) => m.name === mw.name))
      throw new ConfigError(`a middleware named "${mw.name}" is already in use`);
    this.#middleware.push(mw);
    this.#listeners.setMiddleware(this.#middleware);
    const keys = new Set(this.#taskOptionKeys);
    for (const k of mw.taskOptions ?? []) keys.add(k);
    this.#taskOptionKeys = [...keys];
    return this;
  }

  /** Listen to a Celery signal (`task_success`, `worker_ready` …); returns a function that stops listening. */
  on<K extends SignalName>(name: K, handler: SignalHandler<K>): () => void {
    return this.signals.on(name, handler);
  }

  /** Define a task. Options are checked now: a misspelt option fails with a did-you-mean. */
  task<F extends TaskFn>(name: string, fn: F, options: TaskOptions = {}): Task<F> {
    if (typeof name !== 'string' || !name)
      throw new ConfigError('task(name, fn): name must be a non-empty string');
    if (typeof fn !== 'function') throw new ConfigError(`task "${name}": fn must be a function`);
    checkKeys(`option of task "${name}"`, options, this.#taskOptionKeys);
    for (const m of this.#middleware) m.checkTaskOptions?.(name, options);
    if (this.#tasks.has(name)) throw new ConfigError(`task "${name}" is already registered`);
    const t = new Task(this.#publisher, name, fn, options, this);
    this.#tasks.set(name, t);
    return t;
  }

  /** Entries added with `periodic()`, by name: plain data that beat validates and runs with `beatSchedule`. */
  get periodicEntries(): ReadonlyMap<string, Readonly<BeatEntryInput>> {
    return this.#periodic;
  }

  /**
   * Run a task periodically under beat: `app.periodic('tick', tick.s(), { every: 10 })` or
   * `{ cron: '0 8 * * 1-5' }` / `{ cron: crontab({ hour: 3, minute: 0 }) }`. The task may be a name, a
   * Task or a signature (its args, kwargs and options are the entry's). The shape is checked now; the
   * schedule is parsed with the other entries when beat starts.
   */
  periodic(name: string, task: PeriodicTarget, options: PeriodicOptions): this {
    const entry = periodicInput(name, task, options);
    if (this.#periodic.has(name) || Object.hasOwn(this.conf.beatSchedule, name))
      throw new ConfigError(`beat entry '${name}' is already defined`);
    this.#periodic.set(name, entry);
    return this;
  }

  /** Publish a task by name; no local definition is needed (it may run on a Python worker). */
  sendTask<R = unknown>(
    name: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: SendOptions = {},
  ): Promise<AsyncResult<R>> {
    return this.#publish<R>(
      name,
      args,
      { ...options, kwargs: { ...options.kwargs, ...kwargs } },
      this.#tasks.get(name),
    );
  }

  /** A handle on a result by id. */
  AsyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, () => this.backend(), this.#revoker);
  }

  async #publish<R>(
    name: string,
    args: unknown[],
    options: SendOptions,
    task?: PublishedTask,
  ): Promise<AsyncResult<R>> {
    const { id, message } = this.#messages.build(name, args, options, task);
    const queue = this.#messages.route(name, options, task);
    const broker = await this.broker();
    await this.#replyQueueReady();
    const out = this.#listeners.before(id, name, queue, args, options, message);
    // A client that waits for what it sends starts the result's wait with the publish (task/wait-ahead.ts).
    const ignored = options.ignoreResult ?? task?.options.ignoreResult ?? false;
    const early = ignored ? null : this.#waitAhead.begin(id);
    try {
      await broker.publish(queue, message);
    } catch (err) {
      early?.cancel();
      throw err;
    }
    early?.published();
    if (out) this.#listeners.after(out, args, options);
    if (options.addToParent !== false) recordChildId(id);
    const result = new AsyncResult<R>(id, () => this.backend(), this.#revoker);
    return withWaitAhead(result, this.#waitAhead, early);
  }

  async #publishMany<R>(calls: readonly Call[], task?: PublishedTask): Promise<AsyncResult<R>[]> {
    const items = calls.map((c) => {
      const options = c.options ?? {};
      const t = task ?? this.#tasks.get(c.name);
      const { id, message } = this.#messages.build(c.name, c.args, options, t);
      return { id, queue: this.#messages.route(c.name, options, t), message };
    });
    const broker = await this.broker();
    await this.#replyQueueReady();
    const outs = items.map((it, i) => {
      const c = calls[i] as Call;
      return this.#listeners.before(it.id, c.name, it.queue, c.args, c.options ?? {}, it.message);
    });
    await broker.publishMany(items);
    outs.forEach((out, i) => {
      const c = calls[i] as Call;
      if (out) this.#listeners.after(out, c.args, c.options ?? {});
      if (c.options?.addToParent !== false) recordChildId(items[i]?.id as string);
    });
    return items.map((i) => new AsyncResult<R>(i.id, () => this.backend(), this.#revoker));
  }

  /**
   * rpc:// results go to this app's reply queue, which must exist before a worker answers (RabbitMQ drops
   * a result sent to a missing queue): Celery declares it when sending, and so do we.
   */
  async #replyQueueReady(): Promise<void> {
    if (this.conf.resultBackend?.startsWith('rpc:')) await this.backend();
  }

  /** AsyncResult.revoke() goes through remote control. */
  readonly #revoker = (id: string, o: RevokeOptions) => this.control.revoke(id, o);

  /**
   * The broker connection, opened on first use, with Celery's start-up retries (brokers/connect.ts):
   * each failed attempt is logged to `options.logger` (a worker's; stderr for a client) and `signal`
   * ends the wait (Ctrl-C while connecting).
   */
  broker(options: { logger?: Logger; signal?: AbortSignal } = {}): Promise<Broker> {
    this.#broker ??= openBroker(this.conf, options);
    this.#broker.catch(() => {
      this.#broker = null; // let the next call try again
    });
    return this.#broker;
  }

  /** The result backend connection, opened on first use (the broker's URL when none is set and it can store results). */
  backend(): Promise<ResultBackend> {
    this.#backend ??= openBackend(this.conf, this.oid);
    this.#backend.catch(() => {
      this.#backend = null;
    });
    return this.#backend;
  }

  /** Close the broker and backend connections (and remote control's reply queue). */
  async close(): Promise<void> {
    await this.#control?.close().catch(() => {});
    const [b, r] = [this.#broker, this.#backend];
    this.#broker = null;
    this.#backend = null;
    await Promise.allSettled([b?.then((x) => x.close()), r?.then((x) => x.close())]);
  }
}
