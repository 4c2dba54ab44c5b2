// bindArguments: (args, kwargs) onto a JS function as Python binds them, with Python's TypeError texts.
import { describe, expect, it } from 'vitest';
import { bindArguments } from '../../src/task/arguments.js';

const bind = (fn: (...a: never[]) => unknown, params: string[] | undefined, args: unknown[], kwargs = {}) =>
  bindArguments('tasks.f', fn, params, args, kwargs);

describe('bindArguments without declared params', () => {
  const two = (_a: unknown, _b: unknown) => 0;

  it('passes args through, and kwargs as one trailing object', () => {
    expect(bind(two, undefined, [1, 2])).toEqual([1, 2]);
    expect(bind(two, undefined, [1], { x: 2 })).toEqual([1, { x: 2 }]);
  });

  it('counts required parameters by fn.length', () => {
    expect(() => bind(two, undefined, [1])).toThrow(
      new TypeError('tasks.f() missing 1 required positional argument(s)'),
    );
    expect(bind((_a: unknown, _b: unknown = 2) => 0, undefined, [1])).toEqual([1]);
  });
});

describe('bindArguments with declared params', () => {
  const abc = (a: number, b: number, c = 30) => [a, b, c];
  const params = ['a', 'b', 'c'];

  it('fills positional first, then keywords by name in parameter order', () => {
    expect(bind(abc, params, [1], { c: 3, b: 2 })).toEqual([1, 2, 3]);
    expect(bind(abc, params, [], { b: 2, a: 1 })).toEqual([1, 2]);
    expect(bind(abc, params, [1, 2, 3])).toEqual([1, 2, 3]);
  });

  it('leaves a skipped optional parameter to its default', () => {
    const f = (a: number, b = 20, c = 30) => [a, b, c];
    const out = bind(f, params, [1], { c: 3 });
    expect(f(...(out as [number, number, number]))).toEqual([1, 20, 3]);
  });

  it('fails as Python does: too many positional, unknown keyword, a value twice, missing ones', () => {
    expect(() => bind(abc, params, [1, 2, 3, 4])).toThrow(
      new TypeError('tasks.f() takes 3 positional arguments but 4 were given'),
    );
    expect(() => bind(abc, params, [1, 2], { z: 1 })).toThrow(
      new TypeError("tasks.f() got an unexpected keyword argument 'z'"),
    );
    expect(() => bind(abc, params, [1, 2], { a: 1 })).toThrow(
      new TypeError("tasks.f() got multiple values for argument 'a'"),
    );
    expect(() => bind(abc, params, [], {})).toThrow(
      new TypeError("tasks.f() missing 2 required positional arguments: 'a' and 'b'"),
    );
    expect(() => bind(abc, params, [], { a: 1 })).toThrow(
      new TypeError("tasks.f() missing 1 required positional argument: 'b'"),
    );
  });

  it('throws a real TypeError (what the worker reports as exc_type TypeError)', () => {
    const err = (() => {
      try {
        bind(abc, params, [], {});
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TypeError);
  });
});
