/**
 * The dashboard's options and their defaults, declared once here (the CLI's help and docs read these).
 */

export const DASHBOARD_DEFAULTS = {
  /** Flower's default port. */
  port: 5555,
  /** Loopback: nothing listens on the network unless asked, and then only with credentials. */
  address: '127.0.0.1',
  /** Tasks held in memory, the oldest first out (Flower's max_tasks). */
  maxTasks: 10_000,
  /** Seconds between `inspect stats` / `active_queues` polls (pool, concurrency, stalls, consumers). */
  pollSeconds: 10,
} as const satisfies Record<string, string | number>;

export interface DashboardOptions {
  /** HTTP Basic credentials, `user:password`. */
  readonly basicAuth?: string | undefined;
  /** A bearer token (`Authorization: Bearer <token>`, or visit `/?token=<token>` once in a browser). */
  readonly token?: string | undefined;
  /** Refuse every action (403). @defaultValue false */
  readonly readOnly?: boolean | undefined;
  /** @defaultValue 10000 */
  readonly maxTasks?: number | undefined;
  /** The path the handler is mounted under in plain node:http (`/dashboard`); frameworks that strip it need none. */
  readonly prefix?: string | undefined;
  /** @defaultValue 10 */
  readonly pollSeconds?: number | undefined;
  /** Epoch seconds (tests). */
  readonly now?: (() => number) | undefined;
}

export interface ServeOptions extends DashboardOptions {
  /** @defaultValue 5555 (0: any free port) */
  readonly port?: number | undefined;
  /** @defaultValue '127.0.0.1' */
  readonly address?: string | undefined;
}
