/**
 * The Redis server's own CPU over a measured window (INFO cpu: used_cpu_user + used_cpu_sys of the server
 * process). Worker CPU alone misses what a queue does inside Redis: BullMQ moves a job with a Lua script of
 * dozens of commands, which runs in the server, where a worker's CPU sample never sees it. The feed-hub and
 * no-op rows report both, so "queue CPU" can be read with and without the server's part.
 *
 * The figure covers every client of the server in the window (the bench's worker and driver; anything else
 * using the same Redis adds to it), so it is a quiet-machine measure like the rest.
 */
import { capture } from './proc.js';

/** CPU seconds the Redis server at `url` has used since it started, or null when it cannot be read. */
export async function redisCpuSeconds(url: string): Promise<number | null> {
  const info = await capture('redis-cli', ['-u', url, 'info', 'cpu']);
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
  const total = field('used_cpu_user') + field('used_cpu_sys');
  return Number.isFinite(total) ? total : null;
}

/** Milliseconds of Redis server CPU per item between two readings (undefined when either is missing). */
export function redisCpuMsPer(before: number | null, after: number | null, n: number): number | undefined {
  return before === null || after === null || n <= 0 ? undefined : ((after - before) * 1000) / n;
}
