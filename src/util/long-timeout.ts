/**
 * `setTimeout` for any delay. Node fires a delay of 2^31 ms (~24.9 days) or more after 1 ms, with only a
 * process warning, so a time limit, a wait or a sleep that long would end at once. A long delay is waited
 * in steps of at most the largest delay Node keeps, measured against the monotonic clock. Delays below
 * that cost one plain timer, as before.
 */
const MAX_DELAY = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  const due = performance.now() + ms;
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer =
      left > MAX_DELAY
        ? setTimeout(() => arm(due - performance.now()), MAX_DELAY)
        : setTimeout(fn, Math.max(0, left));
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}
