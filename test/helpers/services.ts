/**
 * Service availability for integration tests: a missing service skips the suite locally and fails it
 * when CI=true (CI must never go green by skipping).
 */
import { createConnection } from 'node:net';

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when the suite should be skipped: the service is down and we are not in CI. */
export async function skipUnless(port: number): Promise<boolean> {
  const up = await portOpen(port);
  return !up && !inCI;
}

export const uniq = (prefix: string): string =>
  `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

/** Resolve when `check` is true, polling on a short interval; fail after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
