/**
 * The app: settings, the task registry, and lazily opened connections to the broker and result backend.
 * Passed explicitly (never global). Responsibilities:
 *  - define tasks (`task`) and validate their options eagerly;
 *  - build Celery messages and route them (`sendTask`, `publishTask`, batched `publishTasks`);
 *  - own one broker and one backend connection, opened on first use and closed by `close()`;
 *  - create workers bound to it (`worker`).
 */
import { hostname as osHostname } from 'node:os';
import { threadId } from 'node:worker_threads';
import type { ResultBackend } from '../backends/backend.js';
import { backendSchemes, createBackend } from '../backends/registry.js';
import type { Broker } from '../brokers/broker.js';
import { createBroker } from '../brokers/registry.js';
import { applyChain, applyGroup, type GroupResult } from '../canvas/index.js';
import { ConfigError } from '../errors.js';
import { buildTaskMessage, type SignatureJson, type WireMessage } from '../protocol/message.js';
import { uuid, uuid3Oid } from '../protocol/oid.js';
import { SEND_OPTION_KEYS, type SendOptions, TASK_OPTION_KEYS, type TaskOptions } from '../task/options.js';
import { AsyncResult } from '../task/result.js';
import { type AnyTask, Task, type TaskFn, type TaskPublisher } from '../task/task.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';
import { checkKeys, resolveSettings, type Settings, type SettingsInput } from './config.js';

export interface CeleriacOptions extends SettingsInput {
  /** The app's name, used in logs. */
  main?: string;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
}

export class Celeriac implements TaskPublisher {
  readonly conf: Readonly<Settings>;
  readonly main: string;
  readonly tasks = new Map<string, AnyTask>();
  /** Celery's `origin` header: `gen<pid>@<host>` for clients; workers set their node name. */
  origin: string;
  /** Celery's `reply_to` oid, stable for this app in this process (the rpc:// reply queue). */
  readonly oid: string;
  #broker: Promise<Broker> | null = null;
  #backend: Promise<ResultBackend> | null = null;
  readonly #routes: Array<[RegExp, string]>;

  constructor(options: CeleriacOptions = {}) {
    const { main, ...settings } = options;
    this.conf = resolveSettings(settings);
    this.main = main ?? 'celeriac';
    this.origin = `gen${process.pid}@${osHostname()}`;
    this.oid = uuid3Oid(`${osHostname()}-${process.pid}-${threadId}-${uuid()}`);
    this.#routes = Object.entries(this.conf.taskRoutes).map(([glob, r]) => [
      globToRegExp(glob),
      typeof r === 'string' ? r : r.queue,
    ]);
  }

  /** Define a task. Options are checked now: a misspelt option fails with a did-you-mean. */
  task<F extends TaskFn>(name: string, fn: F, options: TaskOptions = {}): Task<F> {
    if (typeof name !== 'string' || !name)
      throw new ConfigError('task(name, fn): name must be a non-empty string');
    if (typeof fn !== 'function') throw new ConfigError(`task "${name}": fn must be a function`);
    checkKeys(`option of task "${name}"`, options, TASK_OPTION_KEYS);
    if (this.tasks.has(name)) throw new ConfigError(`task "${name}" is already registered`);
    const t = new Task(this, name, fn, options);
    this.tasks.set(name, t);
    return t;
  }

  /** Publish a task by name; no local definition is needed (it may run on a Python worker). */
  sendTask<R = unknown>(
    name: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: SendOptions = {},
  ): Promise<AsyncResult<R>> {
    return this.publishTask<R>(
      name,
      args,
      { ...options, kwargs: { ...options.kwargs, ...kwargs } },
      this.tasks.get(name),
    );
  }

  /** A handle on a result by id. */
  AsyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, () => this.backend());
  }

  /** The queue a task goes to: call option, then taskRoutes, then the task's own option, then the default. */
  route(name: string, options: SendOptions, task?: AnyTask): string {
    if (options.queue) return options.queue;
    for (const [re, queue] of this.#routes) if (re.test(name)) return queue;
    return task?.options.queue ?? this.conf.taskDefaultQueue;
  }

  /** Build the wire message of one call (used by publishing, retries and canvas). */
  buildMessage(
    name: string,
    args: unknown[],
    options: SendOptions,
    task?: AnyTask,
  ): { id: string; message: WireMessage } {
    checkKeys('send option', options, SEND_OPTION_KEYS);
    const id = options.taskId ?? uuid();
    const now = new Date();
    const eta =
      options.eta ??
      (options.countdown !== undefined ? new Date(now.getTime() + options.countdown * 1000) : null);
    const expires =
      options.expires === undefined
        ? null
        : options.expires instanceof Date
          ? options.expires
          : new Date(now.getTime() + options.expires * 1000);
    const message = buildTaskMessage({
      id,
      name,
      args,
      kwargs: options.kwargs ?? {},
      origin: this.origin,
      replyTo: options.replyTo ?? this.oid,
      eta,
      expires,
      retries: options.retries ?? 0,
      timeLimit: [options.timeLimit ?? null, options.softTimeLimit ?? null],
      rootId: options.rootId ?? null,
      parentId: options.parentId ?? null,
      group: options.group ?? null,
      groupIndex: options.groupIndex ?? null,
      shadow: options.shadow ?? null,
      priority: options.priority ?? task?.options.priority ?? this.conf.taskDefaultPriority,
      ignoreResult: options.ignoreResult ?? task?.options.ignoreResult ?? false,
      embed: {
        callbacks: options.link ?? null,
        errbacks: options.linkError ?? null,
        chain: options.chain ?? null,
      },
      compression: options.compression ?? this.conf.taskCompression,
      serializer: this.conf.taskSerializer,
      protocol: this.conf.taskProtocol,
      now,
    });
    return { id, message };
  }

  async publishTask<R>(
    name: string,
    args: unknown[],
    options: SendOptions,
    task?: AnyTask,
  ): Promise<AsyncResult<R>> {
    const { id, message } = this.buildMessage(name, args, options, task);
    const broker = await this.broker();
    await this.#replyQueueReady();
    await broker.publish(this.route(name, options, task), message);
    return new AsyncResult<R>(id, () => this.backend());
  }

  async publishTasks<R>(
    calls: ReadonlyArray<{ name: string; args: unknown[]; options?: SendOptions }>,
    task?: AnyTask,
  ): Promise<AsyncResult<R>[]> {
    const items = calls.map((c) => {
      const options = c.options ?? {};
      const t = task ?? this.tasks.get(c.name);
      const { id, message } = this.buildMessage(c.name, c.args, options, t);
      return { id, queue: this.route(c.name, options, t), message };
    });
    const broker = await this.broker();
    await this.#replyQueueReady();
    await broker.publishMany(items);
    return items.map((i) => new AsyncResult<R>(i.id, () => this.backend()));
  }

  /**
   * rpc:// results go to this app's reply queue, which must exist before a worker answers (RabbitMQ drops
   * a result sent to a missing queue): Celery declares it when sending, and so do we.
   */
  async #replyQueueReady(): Promise<void> {
    if (this.conf.resultBackend?.startsWith('rpc:')) await this.backend();
  }

  /** Apply a signature (a link, a chain step): the parent's result goes first unless it is immutable. */
  async applySignature(
    sig: SignatureJson,
    prepend: unknown[],
    extra: SendOptions = {},
  ): Promise<AsyncResult> {
    const opts = (sig.options ?? {}) as Record<string, unknown>;
    const options: SendOptions = { ...extra, kwargs: sig.kwargs ?? {} };
    if (typeof opts.task_id === 'string') options.taskId = opts.task_id;
    if (typeof opts.queue === 'string') options.queue = opts.queue;
    if (typeof opts.group_id === 'string') options.group = opts.group_id;
    if (typeof opts.priority === 'number') options.priority = opts.priority;
    const args = sig.immutable ? [...(sig.args ?? [])] : [...prepend, ...(sig.args ?? [])];
    return this.publishTask(sig.task, args, options, this.tasks.get(sig.task));
  }

  /** The broker connection, opened on first use. */
  broker(): Promise<Broker> {
    this.#broker ??= (async () => {
      const b = await createBroker(this.conf.brokerUrl, this.conf.brokerTransportOptions);
      await b.connect();
      return b;
    })();
    this.#broker.catch(() => {
      this.#broker = null; // let the next call try again
    });
    return this.#broker;
  }

  /** The result backend connection, opened on first use (the broker's URL when none is set and it can store results). */
  backend(): Promise<ResultBackend> {
    this.#backend ??= (async () => {
      let url = this.conf.resultBackend;
      if (!url) {
        const scheme = this.conf.brokerUrl.split(':')[0] ?? '';
        if (!backendSchemes().includes(scheme)) {
          throw new ConfigError(
            `No result backend is configured (set "backend", e.g. rpc:// or redis://); the ${scheme}:// broker cannot store results`,
          );
        }
        url = this.conf.brokerUrl;
      }
      const b = await createBackend(url, {
        ...this.conf.resultBackendTransportOptions,
        brokerUrl: this.conf.brokerUrl,
        oid: this.oid,
      });
      await b.connect();
      return b;
    })();
    this.#backend.catch(() => {
      this.#backend = null;
    });
    return this.#backend;
  }

  /** Publish signatures as a group (`task.s(...)` each); resolves to a GroupResult. */
  group<R = unknown>(
    sigs: readonly SignatureJson[],
    options: { groupId?: string } = {},
  ): Promise<GroupResult<R>> {
    return applyGroup<R>(this, sigs, options);
  }

  /** Publish signatures as a chain; resolves to the last step's result. */
  chain<R = unknown>(sigs: readonly SignatureJson[]): Promise<AsyncResult<R>> {
    return applyChain<R>(this, sigs);
  }

  /** A worker bound to this app; call `start()` on it. */
  worker(options: WorkerOptions = {}): Worker {
    return new Worker(this, options);
  }

  /** Close the broker and backend connections. */
  async close(): Promise<void> {
    const [b, r] = [this.#broker, this.#backend];
    this.#broker = null;
    this.#backend = null;
    await Promise.allSettled([b?.then((x) => x.close()), r?.then((x) => x.close())]);
  }
}
