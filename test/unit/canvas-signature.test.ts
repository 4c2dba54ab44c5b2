/**
 * Signatures serialize exactly as Celery 5.2's dict signatures, and Celery's dicts come back as usable
 * signatures. Golden dicts: test/fixtures/canvas/signatures.json, written by
 * test/fixtures/canvas/capture.py (Debian's Celery 5.2.6; see its docstring for how to run it), which
 * builds the same signatures in Python and json.dumps them.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Chain,
  Chord,
  Chunks,
  ConfigError,
  chain,
  chord,
  fromJson,
  Group,
  group,
  MapSignature,
  Signature,
  signature,
} from '../../src/index.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

const golden = JSON.parse(
  readFileSync(new URL('../fixtures/canvas/signatures.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

function tasks() {
  t = memoryApp();
  const add = t.app.task('tasks.add', (x: number, y: number) => x + y);
  const mul = t.app.task('tasks.mul', (x: number, y: number) => x * y);
  const tsum = t.app.task('tasks.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  const echo = t.app.task('tasks.echo', (...args: unknown[]) => args);
  return { add, mul, tsum, echo };
}

describe("signatures serialize as Celery 5.2's dicts", () => {
  it('every captured case', () => {
    const { add, mul, tsum, echo } = tasks();
    const built: Record<string, unknown> = {
      s: add.s(2, 3),
      si: add.si(2, 3),
      by_name: signature('tasks.add', [2], { y: 3 }, { countdown: 5 }),
      set: add.s(2, 3).set({ countdown: 10, queue: 'q1', priority: 3 }),
      link: add.s(2, 3).link(echo.s()).linkError(echo.si('err')),
      chain: chain(add.s(1, 2), add.s(3), mul.s(10)),
      pipe: add.s(1, 2).pipe(add.s(3)),
      group: group(add.s(1, 1), add.s(2, 2)),
      chord: chord([add.s(1, 1), add.s(2, 2)], tsum.s()),
      chain_group_task: add
        .s(1, 1)
        .pipe(group(mul.s(2), mul.s(3)))
        .pipe(tsum.s()),
      group_of_chains: group(add.s(1, 1).pipe(mul.s(2)), add.s(2, 2)),
      chord_chain_body: chord([add.s(1, 1), add.s(2, 2)], tsum.s().pipe(mul.s(10))),
      chunks: add.chunks(
        [
          [1, 1],
          [2, 2],
          [3, 3],
        ],
        2,
      ),
      map: tsum.map([[1, 2], [3]]),
      starmap: add.starmap([
        [1, 2],
        [3, 4],
      ]),
    };
    expect(Object.keys(built).sort()).toEqual(Object.keys(golden).sort());
    for (const [name, sig] of Object.entries(built)) expect(plain(sig), name).toEqual(golden[name]);
    // Exactly Celery's keys, in Celery's order.
    expect(Object.keys(plain(add.s(1)))).toEqual([
      'task',
      'args',
      'kwargs',
      'options',
      'subtask_type',
      'immutable',
    ]);
  });

  it('fromJson reads every captured dict back into the matching kind, unchanged', () => {
    const kinds: Record<string, unknown> = {
      chain: Chain,
      pipe: Chain,
      chain_group_task: Chain,
      group: Group,
      group_of_chains: Group,
      chord: Chord,
      chord_chain_body: Chord,
      chunks: Chunks,
      map: MapSignature,
      starmap: MapSignature,
    };
    for (const [name, d] of Object.entries(golden)) {
      const sig = fromJson(d);
      expect(sig, name).toBeInstanceOf((kinds[name] as typeof Signature) ?? Signature);
      expect(plain(sig), name).toEqual(d);
    }
    const c = fromJson(golden.chain_group_task) as Chain;
    expect(c.tasks[1]).toBeInstanceOf(Chord);
    expect((c.tasks[1] as Chord).body?.task).toBe('tasks.tsum');
  });

  it("keeps keys it does not know (Celery 5.0's chord_size) and rejects what is not a signature", () => {
    const d = { ...(golden.s as object), chord_size: 2 };
    expect(plain(fromJson(d))).toEqual(d);
    expect(() => fromJson({ task: 3, args: [] })).toThrow(ConfigError);
    expect(() => fromJson('tasks.add')).toThrow(/not a signature/);
    expect(() => fromJson({ task: 'celery.chain', kwargs: {}, subtask_type: 'chain' })).toThrow(
      /kwargs.tasks/,
    );
    expect(() => new Signature('x', 'nope' as unknown as unknown[])).toThrow(/args must be a list/);
  });

  it('set, link, linkError and clone return new signatures; the original is untouched', () => {
    const { add, echo } = tasks();
    const s = add.s(1);
    const linked = s.link(echo.s()).link(echo.s());
    expect(s.options).toEqual({});
    expect((linked.options.link as unknown[]).length).toBe(1); // Celery does not add the same callback twice
    expect(s.set({ immutable: true }).immutable).toBe(true);
    expect(s.immutable).toBe(false);
    expect(s.clone([5], { z: 1 }).args).toEqual([5, 1]);
    expect(add.si(1, 2).clone([5]).args).toEqual([1, 2]); // immutable: partial args are ignored
    expect(s.set({ eta: new Date('2030-01-02T03:04:05Z') }).options.eta).toBe('2030-01-02T03:04:05+00:00');
    expect(() => s.set({ countdwn: 1 } as never)).toThrow(/Unknown signature option "countdwn"/);
  });

  it('a group link goes to its first member, immutable; linkError to every member; a chord passes both to its body', () => {
    const { add, tsum, echo } = tasks();
    const g = group(add.s(1, 1), add.s(2, 2)).link(echo.s()).linkError(echo.s());
    expect(plain(g.tasks[0]?.options.link)).toEqual([{ ...plain(echo.s()), immutable: true }]);
    expect(g.tasks.every((m) => Array.isArray(m.options.link_error))).toBe(true);
    const c = chord([add.s(1, 1)], tsum.s()).link(echo.s());
    expect(plain(c.body?.options.link)).toEqual([plain(echo.s())]);
  });

  it('a signature by name needs an app to be applied on its own', async () => {
    tasks();
    await expect(signature('py.only').applyAsync()).rejects.toThrow(/not bound to an app/);
    expect(t.app.signature('py.only', [1]).app).toBe(t.app);
  });
});
