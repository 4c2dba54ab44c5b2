/** The signals-and-middleware example (docs/guide.md points at it) does what the guide says it prints. */
import { describe, expect, it } from 'vitest';
import { main } from '../../examples/signals/run.js';

describe('examples/signals', () => {
  it('prints each signal it listens to and the slow-task warning', async () => {
    const lines: string[] = [];
    await main((l) => lines.push(l));
    expect(lines[0]).toMatch(/^worker ready: /);
    expect(lines).toContain('success: demo.add -> 5');
    expect(lines).toContain('failure: demo.fail: Error: something went wrong');
    expect(lines.some((l) => /^slow: demo\.nap\[.+\] took 0\.\d\ds \(> 0\.05s\)$/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('slow: demo.add'))).toBe(false);
    expect(lines.at(-1)).toBe('worker shutdown: 2 succeeded, 1 failed');
  });
});
