/**
 * The canvas types follow the workflow (checked by `tsc`, which covers test/; the runtime assertions
 * only keep vitest from reporting an empty file). `@ts-expect-error` lines are the compile errors the
 * types promise: a step whose first parameter cannot take the previous result.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type AsyncResult,
  Celeriac,
  type Complete,
  chain,
  chord,
  type GroupResult,
  group,
  type Signature,
  signature,
} from '../../src/index.js';
import { exportedChord, exportedWorkflow } from '../fixtures/canvas/exported-workflow.js';

const app = new Celeriac({ broker: 'memory://types', backend: 'memory://types' });
const add = app.task('ty.add', (x: number, y: number) => x + y);
const toStr = app.task('ty.str', (x: number) => String(x));
const shout = app.task('ty.shout', (s: string) => s.toUpperCase());
const tsum = app.task('ty.sum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));

describe('canvas types', () => {
  it('signatures, chains, groups and chords carry their result types', () => {
    expectTypeOf(add.s(1, 2)).toEqualTypeOf<Signature<number, Complete>>();
    expectTypeOf(add.s(1)).toEqualTypeOf<Signature<number, number>>();
    expectTypeOf(chain(add.s(1, 2), toStr.s()).applyAsync()).resolves.toEqualTypeOf<AsyncResult<string>>();
    expectTypeOf(chain(add.s(1, 2), toStr.s(), shout.s()).applyAsync()).resolves.toEqualTypeOf<
      AsyncResult<string>
    >();
    expectTypeOf(add.s(1, 2).pipe(toStr.s()).applyAsync()).resolves.toEqualTypeOf<AsyncResult<string>>();
    expectTypeOf(group(add.s(1, 1), add.s(2, 2)).applyAsync()).resolves.toEqualTypeOf<GroupResult<number>>();
    expectTypeOf(chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync()).resolves.toEqualTypeOf<
      AsyncResult<number>
    >();
    expectTypeOf(add.map([1, 2])).toMatchTypeOf<Signature<number[], unknown>>();
    // Immutable steps and signatures by name accept whatever comes before.
    chain(add.s(1, 2), shout.si('x'));
    chain(add.s(1, 2), signature('py.anything'));
    expect(true).toBe(true);
  });

  it('a step that cannot take the previous result does not compile', () => {
    // @ts-expect-error shout takes a string, add gives a number
    chain(add.s(1, 2), shout.s());
    // @ts-expect-error a complete signature has no room for the previous result
    chain(add.s(1, 2), add.s(3, 4));
    // @ts-expect-error the same through pipe()
    add.s(1, 2).pipe(shout.s());
    // @ts-expect-error a chord body receives the list of header results
    chord([add.s(1, 1)], toStr.s());
    expect(true).toBe(true);
  });
});

describe('canvas types in declarations', () => {
  it('an exported workflow of complete signatures keeps its types (test/fixtures/canvas/exported-workflow.ts)', () => {
    expectTypeOf(exportedWorkflow().applyAsync()).resolves.toEqualTypeOf<AsyncResult<string>>();
    expectTypeOf(exportedChord().applyAsync()).resolves.toEqualTypeOf<AsyncResult<number>>();
    // Still nominal: no task result fits where nothing may be prepended.
    expectTypeOf<{ complete: never }>().not.toMatchTypeOf<Complete>();
    expectTypeOf<Record<string, never>>().not.toMatchTypeOf<Complete>();
    expect(exportedWorkflow().tasks).toHaveLength(2);
  });
});
