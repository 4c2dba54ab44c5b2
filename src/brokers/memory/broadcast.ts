/**
 * Broadcast for memory:// (../broadcast.ts): subscribers and reply queues live in the namespace that
 * stores of the same name share, so two brokers on `memory://x` in one process see each other's events
 * and control messages, as two processes on one Redis would. Handlers run on a later tick (never inside
 * `publish`), as they would after a network hop.
 */
import type { WireMessage } from '../../protocol/message.js';
import {
  type Broadcast,
  type BroadcastHandler,
  type BroadcastMessage,
  bindingMatches,
  type Exchange,
  type SubscribeOptions,
  type Subscription,
} from '../broadcast.js';

interface Sub {
  exchange: string;
  type: Exchange['type'];
  binding: string;
  handler: BroadcastHandler;
  onError: ((err: Error) => void) | undefined;
}

interface ReplyQueue {
  handler: BroadcastHandler | null;
  onError: ((err: Error) => void) | undefined;
  waiting: WireMessage[];
}

/** A handler that throws is reported (to onError, or as a warning) and the others still run. */
function deliver(
  handler: BroadcastHandler,
  m: BroadcastMessage,
  onError: ((err: Error) => void) | undefined,
): void {
  try {
    handler(m);
  } catch (err) {
    const e = new Error(`a broadcast handler on ${m.exchange} threw: ${(err as Error)?.message}`, {
      cause: err,
    });
    if (onError) onError(e);
    else process.emitWarning(e.message, 'CeleriacBroadcastWarning');
  }
}

/** What one memory namespace holds for broadcasts. */
export class MemoryExchanges {
  readonly subs = new Set<Sub>();
  /** Reply bindings: `<exchange>\0<routingKey>` → queue name; queues by name. */
  readonly bindings = new Map<string, string>();
  readonly replyQueues = new Map<string, ReplyQueue>();
}

const copy = (m: WireMessage): WireMessage => ({
  ...m,
  body: Buffer.from(m.body),
  headers: { ...m.headers },
  properties: { ...m.properties },
});

export class MemoryBroadcast implements Broadcast {
  readonly #x: MemoryExchanges;

  constructor(exchanges: MemoryExchanges) {
    this.#x = exchanges;
  }

  async publish(exchange: Exchange, routingKey: string, message: WireMessage): Promise<void> {
    for (const s of this.#x.subs) {
      if (s.exchange !== exchange.name || !bindingMatches(exchange.type, s.binding, routingKey)) continue;
      const m = { exchange: exchange.name, routingKey, message: copy(message) };
      setImmediate(() => {
        if (this.#x.subs.has(s)) deliver(s.handler, m, s.onError);
      });
    }
  }

  async subscribe(
    exchange: Exchange,
    bindingKey: string,
    handler: BroadcastHandler,
    options?: SubscribeOptions,
  ): Promise<Subscription> {
    const sub: Sub = {
      exchange: exchange.name,
      type: exchange.type,
      binding: bindingKey,
      handler,
      onError: options?.onError,
    };
    this.#x.subs.add(sub);
    return {
      close: async () => {
        this.#x.subs.delete(sub);
      },
    };
  }

  async reply(exchange: string, routingKey: string, message: WireMessage): Promise<void> {
    const name = this.#x.bindings.get(`${exchange}\0${routingKey}`);
    const q = name === undefined ? undefined : this.#x.replyQueues.get(name);
    if (!q) return; // no such queue: dropped, as kombu drops a message no binding routes
    const m = { exchange, routingKey, message: copy(message) };
    if (q.handler) {
      const h = q.handler;
      setImmediate(() => deliver(h, m, q.onError));
    } else q.waiting.push(m.message);
  }

  async replyQueue(
    exchange: string,
    routingKey: string,
    queue: string,
    handler: BroadcastHandler,
    options?: { onError?: (err: Error) => void },
  ): Promise<Subscription> {
    const key = `${exchange}\0${routingKey}`;
    this.#x.bindings.set(key, queue);
    const q = this.#x.replyQueues.get(queue) ?? { handler: null, onError: undefined, waiting: [] };
    this.#x.replyQueues.set(queue, q);
    q.handler = handler;
    q.onError = options?.onError;
    for (const message of q.waiting.splice(0))
      setImmediate(() => deliver(handler, { exchange, routingKey, message }, q.onError));
    return {
      close: async () => {
        this.#x.bindings.delete(key);
        this.#x.replyQueues.delete(queue);
        q.handler = null;
      },
    };
  }
}
