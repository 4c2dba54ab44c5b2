/**
 * The types of calling a task (checked by `tsc`, which `npm test` runs over test/; the runtime assertions
 * only keep vitest from reporting an empty file). `@ts-expect-error` lines are the compile errors the
 * types promise: `delay`, `applyAsync`, `applyMany` and signatures check the arguments against the task's
 * function, results carry its return type, and `app.sendTask` stays the untyped way to send.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { type AsyncResult, Celeriac, type Complete, type Signature } from '../../src/index.js';

const app = new Celeriac({ broker: 'memory://task-types', backend: 'memory://task-types' });
const add = app.task('tt.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
const greet = app.task('tt.greet', async (name: string, punct = '!') => `hi ${name}${punct}`);
const noop = app.task('tt.noop', () => undefined);

describe('task call types', () => {
  it('delay checks every argument and resolves to the typed result', () => {
    expectTypeOf(add.delay(2, 3)).resolves.toEqualTypeOf<AsyncResult<number>>();
    expectTypeOf(greet.delay('ada')).resolves.toEqualTypeOf<AsyncResult<string>>();
    // @ts-expect-error a string where a number goes
    void (() => add.delay(2, '3'));
    // @ts-expect-error a missing argument
    void (() => add.delay(2));
  });

  it('applyAsync checks its arguments; with kwargs the positional ones may stop early', () => {
    expectTypeOf(add.applyAsync([2, 3], { countdown: 5 })).resolves.toEqualTypeOf<AsyncResult<number>>();
    expectTypeOf(add.applyAsync([2], { kwargs: { y: 3 } })).resolves.toEqualTypeOf<AsyncResult<number>>();
    expectTypeOf(add.applyAsync([], { kwargs: { x: 2, y: 3 } })).resolves.toEqualTypeOf<
      AsyncResult<number>
    >();
    expectTypeOf(noop.applyAsync()).resolves.toEqualTypeOf<AsyncResult<undefined>>();
    expectTypeOf(greet.applyAsync(['ada'])).resolves.toEqualTypeOf<AsyncResult<string>>();
    // @ts-expect-error the issue's example: '3' is not a number
    void (() => add.applyAsync([2, '3']));
    // @ts-expect-error a missing argument and no kwargs to give it
    void (() => add.applyAsync([2]));
    // @ts-expect-error a task with parameters needs them
    void (() => add.applyAsync());
    // @ts-expect-error too many arguments
    void (() => add.applyAsync([1, 2, 3]));
    // @ts-expect-error a wrong type in the prefix is still wrong with kwargs
    void (() => add.applyAsync(['2'], { kwargs: { y: 3 } }));
  });

  it('applyMany checks each call', () => {
    expectTypeOf(
      add.applyMany([
        [1, 2],
        [3, 4],
      ]),
    ).resolves.toEqualTypeOf<AsyncResult<number>[]>();
    const calls: Array<[number, number | string]> = [
      [1, 2],
      [3, '4'],
    ];
    // @ts-expect-error one call may have a string
    void (() => add.applyMany(calls));
  });

  it('signatures check their arguments and carry the result', () => {
    expectTypeOf(add.s(1, 2)).toEqualTypeOf<Signature<number, Complete>>();
    expectTypeOf(add.s(1)).toEqualTypeOf<Signature<number, number>>();
    expectTypeOf(greet.si('ada')).toEqualTypeOf<Signature<string, unknown>>();
    // @ts-expect-error a string where a number goes
    void (() => add.s(1, 'x'));
    // @ts-expect-error si takes every argument
    void (() => add.si(1));
  });

  it('results: get resolves to the return type; sendTask is the untyped escape', async () => {
    const r = {} as AsyncResult<number>;
    expectTypeOf(r.get).returns.resolves.toEqualTypeOf<number>();
    // sendTask takes any name and any arguments (a task defined in Python, arguments built at run time).
    expectTypeOf(app.sendTask('py.anything', [2, '3'], { z: 1 })).resolves.toEqualTypeOf<
      AsyncResult<unknown>
    >();
    expectTypeOf(app.sendTask<number>('tt.add', [2, 3])).resolves.toEqualTypeOf<AsyncResult<number>>();
    expect(add.run(2, 3)).toBe(5);
    await app.close();
  });
});
