/**
 * Signal names and numbers as remote control gives them (Celery's `platforms.signals.signum`): a number,
 * or a name with or without the SIG prefix ("TERM", "SIGKILL"). Names are read case-insensitively and a
 * string of digits as its number; anything else is a clear error naming what is accepted.
 */
import { constants } from 'node:os';
import { ConfigError } from '../errors.js';

const BY_NAME = constants.signals as Readonly<Record<string, number>>;

export interface Signum {
  /** The signal number on this platform. */
  readonly num: number;
  /** Its name ("SIGTERM"), or the number as text when the platform has no name for it. */
  readonly name: string;
}

export function parseSignal(input: unknown, fallback = 'SIGTERM'): Signum {
  const value = input === undefined || input === null || input === '' ? fallback : input;
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) {
    const num = Number(value);
    if (!Number.isInteger(num) || num <= 0 || num > 64)
      throw new ConfigError(`signal ${String(value)} is not a signal number`);
    const name = Object.keys(BY_NAME).find((k) => BY_NAME[k] === num) ?? String(num);
    return { num, name };
  }
  if (typeof value !== 'string')
    throw new ConfigError(
      `signal must be a name like "TERM" or "SIGKILL", or a number; got ${String(value)}`,
    );
  const upper = value.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const num = BY_NAME[name];
  if (num === undefined)
    throw new ConfigError(
      `unknown signal "${value}"; use a name like "TERM", "KILL" or "SIGINT", or a number`,
    );
  return { num, name };
}
