/**
 * A TCP proxy for the chaos suite (node:net, loopback only) between a worker and its broker, which can
 * drop every connection, stall the traffic (sockets stay open, nothing flows) and slow it (each chunk
 * delayed). Order is kept per direction; back-pressure is not (test traffic is small).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class FaultProxy {
  readonly port: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #stallUntil = 0;
  #delayMs = 0;
  /** Connections accepted so far (a reconnect shows as a new one). */
  accepted = 0;

  private constructor(server: Server, port: number) {
    this.#server = server;
    this.port = port;
  }

  static start(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
    return new Promise((resolve, reject) => {
      let proxy: FaultProxy;
      const server = createServer((client) => proxy.#pipe(client, targetPort, targetHost));
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        proxy = new FaultProxy(server, typeof addr === 'object' && addr ? addr.port : 0);
        resolve(proxy);
      });
    });
  }

  #pipe(client: Socket, port: number, host: string): void {
    this.accepted++;
    const upstream = createConnection({ port, host });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
      s.on('close', () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    this.#forward(client, upstream);
    this.#forward(upstream, client);
  }

  #forward(from: Socket, to: Socket): void {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      chain = chain.then(async () => {
        const stall = this.#stallUntil - Date.now();
        if (stall > 0) await sleep(stall);
        if (this.#delayMs > 0) await sleep(this.#delayMs);
        if (!to.destroyed) to.write(chunk);
      });
    });
  }

  /** Reset every open connection (the peers see ECONNRESET / a closed socket). */
  drop(): number {
    const n = this.#sockets.size;
    for (const s of this.#sockets) s.resetAndDestroy();
    return n;
  }

  /** Hold all traffic for `ms`, sockets open. */
  stall(ms: number): void {
    this.#stallUntil = Date.now() + ms;
  }

  /** Delay every chunk by `delayMs` (0: full speed again). */
  slow(delayMs: number): void {
    this.#delayMs = delayMs;
  }

  close(): Promise<void> {
    this.drop();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
