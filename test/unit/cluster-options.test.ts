/** `--processes`: what it accepts, and the message when it does not. */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseProcesses } from '../../src/worker/cluster/run.js';

describe('--processes', () => {
  it('takes a whole number, or 0 / auto for one per core', () => {
    expect(parseProcesses('3')).toBe(3);
    expect(parseProcesses('0')).toBe(availableParallelism());
    expect(parseProcesses('auto')).toBe(availableParallelism());
  });
  it.each(['-1', '1.5', 'two', ''])('refuses %j and says what it takes', (v) => {
    expect(() => parseProcesses(v)).toThrow(/--processes must be a whole number >= 0 or "auto"/);
  });
});
