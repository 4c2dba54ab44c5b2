/**
 * From a send to a Celery message and a queue, the app's half of publishing that does no I/O:
 *  - the queue: the call's option, then the first `taskRoutes` glob that matches, then the task's own
 *    option, then the app's default;
 *  - the message: send options checked (a misspelt one fails with a did-you-mean), countdown and
 *    expires turned into dates, the task's and the app's defaults filled in, protocol v2 built.
 * The app owns one per settings (App#messages); app.ts sends what it builds.
 */
import { hostname as osHostname } from 'node:os';
import { buildTaskMessage, type WireMessage } from '../protocol/message.js';
import { uuid } from '../protocol/oid.js';
import { SEND_OPTION_KEYS, type SendOptions } from '../task/options.js';
import type { PublishedTask } from '../task/publisher.js';
import { checkKeys, type Settings } from './config.js';

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
}

export class Messages {
  readonly #conf: Readonly<Settings>;
  /** Celery's `reply_to`: the app's oid (the rpc:// reply queue). */
  readonly #replyTo: string;
  /** Celery's `origin` header of clients: `gen<pid>@<host>`; a worker passes its node name per publish. */
  readonly #origin: string;
  readonly #routes: Array<[RegExp, string]>;

  constructor(conf: Readonly<Settings>, replyTo: string) {
    this.#conf = conf;
    this.#replyTo = replyTo;
    this.#origin = `gen${process.pid}@${osHostname()}`;
    this.#routes = Object.entries(conf.taskRoutes).map(([glob, r]) => [
      globToRegExp(glob),
      typeof r === 'string' ? r : r.queue,
    ]);
  }

  /** The queue a call goes to: call option, then taskRoutes, then the task's own option, then the default. */
  route(name: string, options: SendOptions, task?: PublishedTask): string {
    if (options.queue) return options.queue;
    for (const [re, queue] of this.#routes) if (re.test(name)) return queue;
    return task?.options.queue ?? this.#conf.taskDefaultQueue;
  }

  /** The wire message of one call; `task` is its local definition, when there is one. */
  build(
    name: string,
    args: unknown[],
    options: SendOptions,
    task?: PublishedTask,
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
      origin: options.origin ?? this.#origin,
      replyTo: options.replyTo ?? this.#replyTo,
      eta,
      expires,
      retries: options.retries ?? 0,
      timeLimit: [options.timeLimit ?? null, options.softTimeLimit ?? null],
      rootId: options.rootId ?? null,
      parentId: options.parentId ?? null,
      group: options.group ?? null,
      groupIndex: options.groupIndex ?? null,
      shadow: options.shadow ?? null,
      priority: options.priority ?? task?.options.priority ?? this.#conf.taskDefaultPriority,
      ignoreResult: options.ignoreResult ?? task?.options.ignoreResult ?? false,
      embed: {
        callbacks: options.link ?? null,
        errbacks: options.linkError ?? null,
        chain: options.chain ?? null,
        chord: options.chord ?? null,
      },
      compression: options.compression ?? this.#conf.taskCompression,
      serializer: this.#conf.taskSerializer,
      protocol: this.#conf.taskProtocol,
      now,
    });
    return { id, message };
  }
}
