/**
 * What a publish tells the listeners around it: the middleware's publish hooks and Celery's
 * before_task_publish / after_task_publish signals, before and after the broker takes the message.
 * When nobody listens nothing is allocated (`before` returns null), which keeps a plain publish cheap.
 */
import { PublishHooks } from '../middleware/hooks.js';
import type { Middleware, OutgoingTask } from '../middleware/middleware.js';
import type { WireMessage } from '../protocol/message.js';
import type { SendOptions } from '../task/options.js';
import type { Signals } from './signals.js';

/**
 * A client has no worker logger: publish signal handlers that throw, and the broker's start-up retries
 * of a client, are reported on stderr.
 */
export const clientLogger = {
  enabled: () => true,
  log: (_level: string, message: string) => process.stderr.write(`celeriac: ${message}\n`),
};

export class PublishListeners {
  readonly #signals: Signals;
  #hooks = new PublishHooks([]);

  constructor(signals: Signals) {
    this.#signals = signals;
  }

  /** The middleware changed (`app.use`): the hooks are rebuilt from the whole list. */
  setMiddleware(middleware: readonly Middleware[]): void {
    this.#hooks = new PublishHooks(middleware);
  }

  /** The publish hooks and Celery's before_task_publish; null (nothing allocated) when nobody listens. */
  before(
    id: string,
    name: string,
    queue: string,
    args: unknown[],
    options: SendOptions,
    message: WireMessage,
  ): OutgoingTask | null {
    const signal = this.#signals.has('before_task_publish') || this.#signals.has('after_task_publish');
    if (!signal && !this.#hooks.any) return null;
    const out: OutgoingTask = { id, name, queue, message };
    this.#hooks.before(out);
    if (this.#signals.has('before_task_publish')) {
      this.#signals.emit(
        'before_task_publish',
        {
          sender: name,
          body: [args, options.kwargs ?? {}],
          exchange: '',
          routingKey: queue,
          headers: message.headers,
          properties: message.properties,
        },
        clientLogger,
        id,
      );
    }
    return out;
  }

  after(out: OutgoingTask, args: unknown[], options: SendOptions): void {
    this.#hooks.after(out);
    this.#signals.emit(
      'after_task_publish',
      {
        sender: out.name,
        body: [args, options.kwargs ?? {}],
        exchange: '',
        routingKey: out.queue,
        headers: out.message.headers,
      },
      clientLogger,
      out.id,
    );
  }
}
