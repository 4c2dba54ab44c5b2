/**
 * memory:// — an in-process broker for unit tests and examples.
 *
 * | feature            | support |
 * |--------------------|---------|
 * | priorities         | 0–9, 0 served first (as kombu on Redis) |
 * | unacked restore    | only within the process (a crash loses everything) |
 * | broadcast          | in-process, shared by the namespace (./broadcast.ts) |
 * | URL                | `memory://` or `memory://<name>`; brokers with the same name in one process share queues |
 */
import { randomUUID } from 'node:crypto';
import type { WireMessage } from '../../protocol/message.js';
import { Deque } from '../../util/deque.js';
import type { BrokerCapabilities } from '../broker.js';
import { priorityBucket, type Taken, taken, VirtualBroker, type VirtualStore } from '../virtual.js';
import { MemoryBroadcast, MemoryExchanges } from './broadcast.js';

interface Entry {
  message: WireMessage;
  redelivered: boolean;
}

/** Queues shared by every memory store of the same name in this process (as kombu's memory transport). */
class MemoryQueues {
  readonly queues = new Map<string, Deque<Entry>[]>();
  readonly waiters = new Set<() => void>();
  readonly exchanges = new MemoryExchanges();

  buckets(queue: string): Deque<Entry>[] {
    let b = this.queues.get(queue);
    if (!b) {
      b = Array.from({ length: 10 }, () => new Deque<Entry>());
      this.queues.set(queue, b);
    }
    return b;
  }

  wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }
}

const namespaces = new Map<string, MemoryQueues>();

export class MemoryStore implements VirtualStore {
  readonly transport = 'memory';
  readonly capabilities: BrokerCapabilities = {
    priority: 'low-first',
    redeliversUnacked: false,
    requeueToFront: true,
    broadcast: true,
  };
  readonly broadcast: MemoryBroadcast;
  readonly #ns: MemoryQueues;
  readonly #unacked = new Map<string, { queue: string; entry: Entry }>();
  readonly #myWaiters = new Set<() => void>();

  constructor(name = '') {
    let ns = namespaces.get(name);
    if (!ns) {
      ns = new MemoryQueues();
      namespaces.set(name, ns);
    }
    this.#ns = ns;
    this.broadcast = new MemoryBroadcast(ns.exchanges);
  }

  async connect(): Promise<void> {}

  async put(items: ReadonlyArray<{ queue: string; message: WireMessage }>): Promise<void> {
    for (const { queue, message } of items) {
      this.#ns
        .buckets(queue)
        [priorityBucket(message.properties.priority)]?.push({ message, redelivered: false });
    }
    this.#ns.wakeAll();
  }

  #takeNow(queues: readonly string[], max: number): Taken[] {
    const out: Taken[] = [];
    for (let p = 0; p < 10 && out.length < max; p++) {
      for (const q of queues) {
        const bucket = this.#ns.buckets(q)[p];
        while (bucket && bucket.length > 0 && out.length < max) {
          const entry = bucket.shift() as Entry;
          const tag = randomUUID();
          this.#unacked.set(tag, { queue: q, entry });
          out.push(taken(tag, q, entry.message, entry.redelivered));
        }
      }
    }
    return out;
  }

  async take(queues: readonly string[], max: number, waitMs: number): Promise<Taken[]> {
    const now = this.#takeNow(queues, max);
    if (now.length || waitMs <= 0) return now;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#ns.waiters.delete(done);
        this.#myWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.#ns.waiters.add(done);
      this.#myWaiters.add(done);
    });
    return this.#takeNow(queues, max);
  }

  async ack(tags: readonly string[]): Promise<void> {
    for (const t of tags) this.#unacked.delete(t);
  }

  async requeue(tags: readonly string[]): Promise<void> {
    for (const t of tags) {
      const u = this.#unacked.get(t);
      if (!u) continue;
      this.#unacked.delete(t);
      u.entry.redelivered = true;
      this.#ns.buckets(u.queue)[priorityBucket(u.entry.message.properties.priority)]?.unshift(u.entry);
    }
    if (tags.length) this.#ns.wakeAll();
  }

  async discard(tags: readonly string[]): Promise<void> {
    for (const t of tags) this.#unacked.delete(t);
  }

  async purge(queue: string): Promise<number> {
    let n = 0;
    for (const b of this.#ns.buckets(queue)) {
      n += b.length;
      b.clear();
    }
    return n;
  }

  async size(queue: string): Promise<number> {
    return this.#ns.buckets(queue).reduce((n, b) => n + b.length, 0);
  }

  interrupt(): void {
    for (const w of [...this.#myWaiters]) w();
  }

  async close(): Promise<void> {
    // Like a closed AMQP channel: whatever this store still holds unacked goes back to its queue.
    await this.requeue([...this.#unacked.keys()]);
    this.interrupt();
  }
}

export function createMemoryBroker(url: URL): VirtualBroker {
  return new VirtualBroker(new MemoryStore(url.host + url.pathname.replace(/^\/+$/, '')));
}
