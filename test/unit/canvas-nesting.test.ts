/**
 * The nesting rules of docs/canvas.md, run end to end by our own worker (the memory broker): the table
 * "you write / what runs", row by row.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chain, chord, group } from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

describe('nesting on a Celeriac worker', () => {
  it('runs every nesting the guide lists, with the results it states', async () => {
    t = memoryApp();
    const add = t.app.task('nest.add', (x: number, y: number) => x + y);
    const mul = t.app.task('nest.mul', (x: number, y: number) => x * y);
    const tsum = t.app.task('nest.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    await t.startWorker();
    // A group in a chain becomes a chord: tsum receives [4, 6].
    const groupInChain = await chain(add.s(1, 1), group(mul.s(2), mul.s(3)), tsum.s()).applyAsync();
    expect(await groupInChain.get({ timeout: 5 })).toBe(10);
    // A chord in a chain: the header gets 3, the next step the body's result.
    const chordInChain = await chain(
      add.s(1, 2),
      chord([mul.s(2), mul.s(3)], tsum.s()),
      add.s(100),
    ).applyAsync();
    expect(await chordInChain.get({ timeout: 5 })).toBe(115);
    // A chain in a chord's header counts by its last step; a chain as the body gets the list.
    const chains = await chord(
      [add.s(1, 1), chain(add.s(1, 2), mul.s(10))],
      chain(tsum.s(), mul.s(2)),
    ).applyAsync();
    expect(await chains.get({ timeout: 5 })).toBe(64);
    // A chain in a group: the group's result for it is its last step's.
    const chainInGroup = await group(chain(add.s(1, 1), mul.s(2)), add.s(5, 5)).applyAsync();
    expect(await chainInGroup.get({ timeout: 5 })).toEqual([4, 10]);
  });
});
