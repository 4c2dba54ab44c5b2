/**
 * The confirmation of destructive commands (purge, dead-letter purge): `-f` skips it; without a terminal
 * there is nobody to ask, so the command refuses rather than deleting unasked.
 */
import { CeleriacError } from '../errors.js';

/** Resolves true when `force` is set or the user answers yes on the terminal. */
export async function confirmed(question: string, force: boolean | undefined): Promise<boolean> {
  if (force) return true;
  if (!process.stdin.isTTY)
    throw new CeleriacError('E_USAGE', 'purge deletes messages: pass -f to confirm when not on a terminal');
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}
