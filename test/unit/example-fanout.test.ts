// Needs the worker-side chord support (branch canvas-worker).
/**
 * examples/fanout end to end on the memory broker with an in-process worker: one chain per feed (fan-out),
 * a chord collecting the summaries in feed order (fan-in), and the chord's link callback recorded as the
 * report's child. Until the worker side lands, the chord body never fires and this test times out.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../examples/fanout/run.js';

describe('examples/fanout', () => {
  it('fans out one chain per feed and collects the summaries with a chord', async () => {
    const lines: string[] = [];
    await main((l) => lines.push(l));
    expect(lines).toEqual([
      'releases.example: 3 items, 14 words; longest: "Node 22 enters long-term support"',
      'science.example: 2 items, 11 words; longest: "A comet returns after seventy years"',
      'weather.example: 4 items, 19 words; longest: "Storm warning for the north coast"',
      'report: 9 items, 44 words from 3 feeds; busiest: weather.example',
      'announce: loaded 9 items from 3 feeds',
    ]);
  });
});
