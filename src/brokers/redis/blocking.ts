/**
 * The blocking connections behind the store's BRPOP waits: a pool (one connection per concurrent wait),
 * a watchdog on each wait, and interrupt(), which wakes every wait in progress. Its own module because a
 * blocked connection can do nothing else, so waking one needs the command connection (CLIENT UNBLOCK by
 * client id) or a disconnect, and that bookkeeping has nothing to do with what the store does with the
 * message it pops.
 */
import type { Redis } from 'ioredis';
import { brokerError, loadIoredis, newClient, type RedisTarget } from '../../drivers/redis/connection.js';
import type { RedisBrokerOptions } from './options.js';

/** What the pool needs of the store: how to open a connection, and its command connection (if any). */
export interface BlockingHost {
  readonly transport: string;
  readonly target: Readonly<RedisTarget>;
  readonly options: Readonly<RedisBrokerOptions>;
  /** The command connection, null when not connected; it sends CLIENT UNBLOCK. */
  command(): Redis | null;
}

/** Extra time a BRPOP may take past its own timeout before the connection is presumed dead. */
const BLOCKING_GRACE_MS = 10_000;

export class BlockingPool {
  readonly #host: BlockingHost;
  readonly #idle: Redis[] = [];
  readonly #busy = new Set<Redis>();
  readonly #clientIds = new WeakMap<Redis, number>();
  readonly #interrupted = new WeakSet<Redis>();
  #interrupts = 0;
  #closed = false;

  constructor(host: BlockingHost) {
    this.#host = host;
  }

  /** Counts interrupt() calls: a take compares it before and after a step to see one came meanwhile. */
  get generation(): number {
    return this.#interrupts;
  }

  /** BRPOP on a pooled blocking connection; null on timeout or when interrupted on purpose. */
  async brpop(keys: string[], waitMs: number): Promise<[string, string] | null> {
    const conn = await this.#acquire();
    let watchdog: NodeJS.Timeout | undefined;
    try {
      if (!this.#clientIds.has(conn)) {
        // Sent ahead of BRPOP on the same connection, so it answers before BRPOP blocks; needed to
        // CLIENT UNBLOCK this connection when the consumer is cancelled.
        void conn.client('ID').then(
          (id) => this.#clientIds.set(conn, Number(id)),
          () => {},
        );
      }
      const pop = conn.brpop(...keys, (waitMs / 1000).toFixed(3)) as Promise<[string, string] | null>;
      const timeout = new Promise<never>((_, reject) => {
        watchdog = setTimeout(() => {
          // A BRPOP that outlives its timeout by this much sits on a dead connection (no RST seen):
          // drop the connection so the loop reconnects instead of hanging (celery/celery#8030).
          conn.disconnect(true);
          reject(new Error('BRPOP overran its timeout; connection reset'));
        }, waitMs + BLOCKING_GRACE_MS);
      });
      return await Promise.race([pop, timeout]);
    } catch (err) {
      // Interrupted on purpose (cancel/close): an empty take, not an error.
      if (this.#interrupted.has(conn)) return null;
      throw brokerError('BRPOP', err);
    } finally {
      clearTimeout(watchdog);
      this.#interrupted.delete(conn);
      this.#release(conn);
    }
  }

  async #acquire(): Promise<Redis> {
    let conn = this.#idle.pop();
    if (!conn) {
      const host = this.#host;
      conn = newClient(await loadIoredis(host.transport), host.target, 'blocking', host.options);
      const c = conn;
      // A reconnected connection has a new client id.
      c.on('close', () => this.#clientIds.delete(c));
      c.connect().catch(() => {});
    }
    this.#busy.add(conn);
    return conn;
  }

  #release(conn: Redis): void {
    this.#busy.delete(conn);
    if (this.#closed || conn.status === 'end') conn.disconnect();
    else this.#idle.push(conn);
  }

  /**
   * Wake every BRPOP in progress: CLIENT UNBLOCK when the server is known to have it blocked, otherwise
   * (id not known yet, or BRPOP still on its way) drop that blocking connection.
   */
  interrupt(): void {
    this.#interrupts++;
    for (const conn of this.#busy) {
      this.#interrupted.add(conn);
      const id = this.#clientIds.get(conn);
      const cmd = this.#host.command();
      if (id === undefined || cmd?.status !== 'ready') {
        conn.disconnect();
        continue;
      }
      void cmd.client('UNBLOCK', id).then(
        (n) => {
          if (Number(n) === 0 && this.#busy.has(conn) && this.#interrupted.has(conn)) conn.disconnect();
        },
        () => conn.disconnect(),
      );
    }
  }

  /** Disconnect every connection; one still busy is disconnected again when its wait returns. */
  close(): void {
    this.#closed = true;
    for (const c of this.#idle.splice(0)) c.disconnect();
    for (const c of this.#busy) c.disconnect();
  }
}
