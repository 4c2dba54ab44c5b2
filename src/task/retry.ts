/** Retry delays as Celery computes them for autoretry: exponential backoff, capped, with full jitter. */
export function backoffDelay(
  retries: number,
  factor: number,
  max: number,
  jitter: boolean,
  random = Math.random,
): number {
  const countdown = Math.min(max, factor * 2 ** retries);
  return jitter ? Math.floor(random() * (countdown + 1)) : countdown;
}
