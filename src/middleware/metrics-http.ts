/**
 * The small HTTP server behind `--metrics-port`: one route, `GET /metrics`, on loopback unless told
 * otherwise (the brief's rule: anything that listens binds loopback). Its handler is the metrics
 * middleware's own `handle`, which a dashboard mounts on its server instead.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';

export interface MetricsServer {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export async function serveMetrics(
  host: string,
  port: number,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<MetricsServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ConfigError(`metrics server cannot listen on ${host}:${port}: ${err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  // Scrapes must not keep a stopping worker's process alive.
  server.unref();
  const bound = server.address();
  const actual = typeof bound === 'object' && bound ? bound.port : port;
  return {
    address: { host, port: actual },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
