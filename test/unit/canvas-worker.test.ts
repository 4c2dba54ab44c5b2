/**
 * The worker side of canvas on the memory broker, with messages shaped as Celery 5.2 sends them
 * (celery-wire.md §4.4): chord headers, children, errback styles, Celery's built-in tasks,
 * `currentTask().replace`, and bad canvas input failing the task while the worker keeps serving.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { E_NO_CHORD_SUPPORT, type ResultBackend } from '../../src/backends/backend.js';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { registerBackend } from '../../src/backends/registry.js';
import { currentTask, TaskError } from '../../src/index.js';
import type { SignatureJson } from '../../src/protocol/message.js';
import { uuid } from '../../src/protocol/oid.js';
import type { ErrbackRequest } from '../../src/worker/workflow.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { waitUntil } from '../helpers/services.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

const sig = (task: string, args: unknown[] = [], options: Record<string, unknown> = {}, more = {}) =>
  ({ task, args, kwargs: {}, options, subtask_type: null, immutable: false, ...more }) as SignatureJson;
const group = (tasks: SignatureJson[], options: Record<string, unknown> = {}): SignatureJson => ({
  task: 'celery.group',
  args: [],
  kwargs: { tasks },
  options,
  subtask_type: 'group',
  immutable: false,
});

/** An app with the tasks most cases use; `seen` records what the recording tasks got. */
function setup() {
  t = memoryApp();
  const seen: unknown[] = [];
  const app = t.app;
  app.task('t.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });
  app.task('t.mul', (x: number, y: number) => x * y, { params: ['x', 'y'] });
  app.task('t.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0), { params: ['xs'] });
  app.task('t.boom', (msg: string) => {
    throw new Error(msg);
  });
  app.task(
    't.fail',
    (msg: string) => {
      const e = new Error(msg);
      e.name = 'ValueError';
      throw e;
    },
    { params: ['msg'] },
  );
  app.task(
    't.record',
    (v: unknown) => {
      seen.push(v);
      return v;
    },
    { params: ['v'] },
  );
  return { app, seen };
}

const get = (id: string, timeout = 10) => t.app.AsyncResult(id).get({ timeout });
const backend = (): Promise<ResultBackend> => t.app.backend();

/** Publish a chord's header as Celery 5.2's client does: size first, then the members. */
async function publishChord(members: SignatureJson[], body: SignatureJson, gid = uuid()) {
  await (await backend()).prepareChord?.(gid, members.length, { expires: 60 });
  const ids: string[] = [];
  for (const [i, m] of members.entries()) {
    const r = await t.app.sendTask(m.task, m.args, {}, { group: gid, groupIndex: i, chord: body });
    ids.push(r.id);
  }
  return { gid, ids };
}

describe('chords on the worker', () => {
  it('fires the body once, with the header results in group order, as a member of the group', async () => {
    const { app } = setup();
    app.task('t.slow', async (ms: number, v: number) => {
      await new Promise((r) => setTimeout(r, ms));
      return v;
    });
    await t.startWorker({ concurrency: 4 });
    const bodyId = uuid();
    const gid = uuid();
    const body = sig('t.record', [], { task_id: bodyId, group_id: gid });
    await publishChord([sig('t.slow', [30, 1]), sig('t.slow', [0, 2]), sig('t.slow', [10, 3])], body, gid);
    expect(await get(bodyId)).toEqual([1, 2, 3]);
    const meta = await (await backend()).get(bodyId);
    expect(meta?.group_id).toBe(gid);
  });

  it('does not run the body when a header task fails: ChordError naming it, and the body’s errbacks', async () => {
    const { app, seen } = setup();
    const got: unknown[] = [];
    app.task(
      't.onerror',
      (request: ErrbackRequest, exc: TaskError, traceback: string | null, tag: string) => {
        got.push({ id: request.id, exc: exc.excType, message: exc.excMessage, traceback, tag });
      },
      { params: ['request', 'exc', 'traceback', 'tag'] },
    );
    await t.startWorker();
    const bodyId = uuid();
    const oldId = uuid();
    const body = sig('t.record', [], {
      task_id: bodyId,
      link_error: [sig('t.onerror', ['new-style']), sig('t.record', [], { task_id: oldId })],
    });
    const { ids } = await publishChord([sig('t.add', [1, 1]), sig('t.fail', ['header-boom'])], body);
    const err = (await get(bodyId).catch((e) => e)) as TaskError;
    expect(err).toBeInstanceOf(TaskError);
    expect(err.excType).toBe('ChordError');
    expect(err.excModule).toBe('celery.exceptions');
    expect(err.excMessage).toEqual([`Dependency ${ids[1]} raised ValueError('header-boom')`]);
    // Old style: sent with the body's id; new style: called here with (request, exc, traceback, ...args).
    expect(await get(oldId)).toBe(bodyId);
    expect(got).toEqual([
      { id: bodyId, exc: 'ChordError', message: err.excMessage, traceback: null, tag: 'new-style' },
    ]);
    expect(seen).toEqual([bodyId]);
  });

  it('runs a Python chain holding a group (a celery.chord step in embed.chain)', async () => {
    const { app } = setup();
    await t.startWorker({ concurrency: 4 });
    // chain(add(1,1), group(mul(2), mul(3)), tsum) as Celery 5.2 puts it on the wire (§4.4).
    const tsumId = uuid();
    const tsum = sig('t.tsum', [], { task_id: tsumId });
    const chordStep: SignatureJson = {
      task: 'celery.chord',
      args: [],
      kwargs: {
        kwargs: {},
        header: group([
          sig('t.mul', [2], { task_id: uuid(), chord: tsum, group_index: 0 }),
          sig('t.mul', [3], { task_id: uuid(), chord: tsum, group_index: 1 }),
        ]),
        body: tsum,
      },
      options: { task_id: tsumId },
      subtask_type: 'chord',
      immutable: false,
    };
    const first = await app.sendTask('t.add', [1, 1], {}, { chain: [chordStep] });
    expect(await get(tsumId)).toBe(10);
    await get(first.id);
    // The first step lists the header it set off (a GroupResult tuple) among its children.
    const meta = await (await backend()).get(first.id);
    const children = meta?.children as [[string, null], unknown[]][];
    expect(children).toHaveLength(1);
    expect(children[0]?.[1]).toHaveLength(2);
  });

  it('continues the chain after a chord’s body', async () => {
    const { app } = setup();
    await t.startWorker({ concurrency: 4 });
    const lastId = uuid();
    const chain: SignatureJson = {
      task: 'celery.chain',
      args: [],
      kwargs: {
        tasks: [group([sig('t.add', [1, 1]), sig('t.add', [2, 2])]), sig('t.tsum'), sig('t.mul', [10])],
      },
      options: { task_id: lastId },
      subtask_type: 'chain',
      immutable: false,
    };
    // A chain as a link callback: applied by the worker as Celery's _chain.run.
    await app.sendTask('t.add', [0, 0], {}, { link: [chain] });
    expect(await get(lastId)).toBe(60);
  });
});

describe('children', () => {
  it('records link callbacks and the next chain step before storing the result', async () => {
    const { app } = setup();
    await t.startWorker();
    const cbId = uuid();
    const nextId = uuid();
    const r = await app.sendTask(
      't.add',
      [2, 3],
      {},
      {
        link: [sig('t.record', [], { task_id: cbId })],
        chain: [sig('t.mul', [10], { task_id: nextId })],
      },
    );
    expect(await get(nextId)).toBe(50);
    expect(await get(cbId)).toBe(5);
    await get(r.id);
    expect((await (await backend()).get(r.id))?.children).toEqual([
      [[cbId, null], null],
      [[nextId, null], null],
    ]);
  });

  it('sends several callbacks as one group and records its GroupResult', async () => {
    const { app, seen } = setup();
    await t.startWorker();
    const [a, b] = [uuid(), uuid()];
    const r = await app.sendTask(
      't.add',
      [1, 1],
      {},
      {
        link: [sig('t.record', [], { task_id: a }), sig('t.mul', [5], { task_id: b })],
      },
    );
    expect(await get(a)).toBe(2);
    expect(await get(b)).toBe(10);
    await get(r.id); // callbacks go out before the parent's result is stored: wait for it too
    const children = (await (await backend()).get(r.id))?.children as [[string, null], unknown][];
    expect(children).toHaveLength(1);
    expect(children[0]?.[1]).toEqual([
      [[a, null], null],
      [[b, null], null],
    ]);
    expect(seen).toEqual([2]);
    expect((await (await backend()).get(a))?.group_id).toBe(children[0]?.[0][0]);
  });

  it('records tasks sent from inside the task', async () => {
    const { app } = setup();
    let sent = '';
    app.task('t.parent', async () => {
      sent = (await app.sendTask('t.add', [1, 2])).id;
      return 'ok';
    });
    await t.startWorker();
    const r = await app.sendTask('t.parent');
    expect(await get(r.id)).toBe('ok');
    expect((await (await backend()).get(r.id))?.children).toEqual([[[sent, null], null]]);
    expect(await get(sent)).toBe(3);
  });
});

describe('errbacks', () => {
  it('calls a registered multi-parameter errback in-process with (request, exc, traceback)', async () => {
    const { app, seen } = setup();
    const got: Array<[ErrbackRequest, TaskError, string | null]> = [];
    app.task('t.handler', (request: ErrbackRequest, exc: TaskError, tb: string | null) => {
      got.push([request, exc, tb]);
    });
    await t.startWorker();
    const oldId = uuid();
    const r = await app.sendTask(
      't.fail',
      ['bad'],
      {},
      {
        linkError: [sig('t.handler'), sig('t.record', [], { task_id: oldId })],
      },
    );
    await expect(get(r.id)).rejects.toThrow(TaskError);
    expect(await get(oldId)).toBe(r.id);
    expect(seen).toEqual([r.id]);
    await waitUntil(() => got.length === 1, 5000, 'new-style errback');
    const [request, exc, tb] = got[0] as [ErrbackRequest, TaskError, string | null];
    expect(request).toMatchObject({ id: r.id, name: 't.fail', args: ['bad'] });
    expect(exc).toBeInstanceOf(TaskError);
    expect(exc.excType).toBe('ValueError');
    expect(tb).toMatch(/ValueError: bad/);
    expect((await (await backend()).get(oldId))?.parent_id).toBe(r.id);
  });

  it('stores the failure under the remaining chain steps', async () => {
    const { app } = setup();
    await t.startWorker();
    const [mid, last] = [uuid(), uuid()];
    await app.sendTask(
      't.fail',
      ['early'],
      {},
      {
        chain: [sig('t.mul', [2], { task_id: last }), sig('t.add', [1], { task_id: mid })],
      },
    );
    const err = (await get(last).catch((e) => e)) as TaskError;
    expect(err.excType).toBe('ValueError');
    expect(err.excMessage).toEqual(['early']);
    expect((await (await backend()).get(mid))?.status).toBe('FAILURE');
  });
});

describe('Celery’s built-in tasks', () => {
  it('map, starmap, chunks, accumulate, group and chord with Celery’s argument shapes', async () => {
    const { app } = setup();
    await t.startWorker({ concurrency: 4 });
    const add = sig('t.add');
    expect(
      await get(
        (
          await app.sendTask('celery.starmap', [], {
            task: add,
            it: [
              [1, 2],
              [3, 4],
            ],
          })
        ).id,
      ),
    ).toEqual([3, 7]);
    expect(
      await get((await app.sendTask('celery.map', [], { task: sig('t.record'), it: [1, 2] })).id),
    ).toEqual([1, 2]);
    expect(await get((await app.sendTask('celery.accumulate', [1, 2, 3], { index: 0 })).id)).toBe(1);
    expect(await get((await app.sendTask('celery.accumulate', [1, 2])).id)).toEqual([1, 2]);
    const chunks = await get(
      (
        await app.sendTask('celery.chunks', [
          add,
          [
            [1, 1],
            [2, 2],
            [3, 3],
          ],
          2,
        ])
      ).id,
    );
    const [[,], members] = chunks as [[string, null], [[string, null], null][]];
    expect(await Promise.all(members.map((m) => get(m[0][0])))).toEqual([[2, 4], [6]]);
    const gid = uuid();
    const gIds = [uuid(), uuid()];
    const result = [[gid, null], gIds.map((id) => [[id, null], null])];
    await app.sendTask('celery.group', [
      [sig('t.add', [1], { task_id: gIds[0] }), sig('t.add', [2], { task_id: gIds[1] })],
      result,
      gid,
      [10],
    ]);
    expect(await Promise.all(gIds.map((id) => get(id)))).toEqual([11, 12]);
    expect((await (await backend()).get(gIds[0] as string))?.group_id).toBe(gid);
    const bodyId = uuid();
    await app.sendTask('celery.chord', [], {
      header: [sig('t.add', [1, 1]), sig('t.add', [2, 2])],
      body: sig('t.tsum', [], { task_id: bodyId }),
    });
    expect(await get(bodyId)).toBe(6);
    const chainErr = (await get((await app.sendTask('celery.chain')).id).catch((e) => e)) as TaskError;
    expect(chainErr.excType).toBe('NotImplementedError');
  });

  it('registers every Celery 5.2 built-in name', () => {
    setup();
    for (const name of [
      'celery.chord_unlock',
      'celery.chord',
      'celery.group',
      'celery.chain',
      'celery.map',
      'celery.starmap',
      'celery.chunks',
      'celery.accumulate',
      'celery.backend_cleanup',
    ])
      expect(t.app.tasks.has(name)).toBe(true);
  });
});

describe('currentTask().replace', () => {
  it('hands the task’s id, callbacks and chain to the replacement', async () => {
    const { app, seen } = setup();
    app.task('t.replaced', (n: number) => currentTask().replace(sig('t.mul', [n, 3])), { params: ['n'] });
    await t.startWorker();
    const [cb, last] = [uuid(), uuid()];
    const r = await app.sendTask(
      't.replaced',
      [2],
      {},
      {
        link: [sig('t.record', [], { task_id: cb })],
        chain: [sig('t.add', [100], { task_id: last })],
      },
    );
    expect(await get(r.id)).toBe(6); // the replacement's result, under the replaced task's id
    expect(await get(last)).toBe(106);
    expect(await get(cb)).toBe(6);
    expect(seen).toEqual([6]);
  });

  it('turns a group into a chord whose body accumulates the results', async () => {
    const { app } = setup();
    app.task('t.fanout', () => currentTask().replace(group([sig('t.add', [1, 1]), sig('t.add', [2, 2])])));
    await t.startWorker({ concurrency: 4 });
    const r = await app.sendTask('t.fanout');
    expect(await get(r.id)).toEqual([2, 4]);
  });
});

describe('backends without chords', () => {
  it('fails a chord step with Celery’s rpc:// refusal (NotImplementedError)', async () => {
    // A memory backend that declares chords false, as rpc:// does.
    class NoChords extends MemoryBackend {
      override readonly capabilities = { groups: true, expiry: true, chords: false as const };
    }
    Object.defineProperty(NoChords.prototype, 'prepareChord', { value: undefined });
    Object.defineProperty(NoChords.prototype, 'chordPartReturn', { value: undefined });
    registerBackend('nochords', async () => (url) => new NoChords(url.host));
    t = memoryApp({ backend: `nochords://${uuid()}` });
    t.app.task('t.add', (x: number, y: number) => x + y);
    await t.startWorker();
    const r = await t.app.sendTask('celery.chord', [[sig('t.add', [1, 1])], sig('t.add', [1])]);
    const err = (await get(r.id).catch((e) => e)) as TaskError;
    expect(err.excType).toBe('NotImplementedError');
    expect(err.excMessage).toEqual([E_NO_CHORD_SUPPORT]);
  });
});

describe('bad canvas input', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'a callback whose args is not a list',
      { link: [{ ...sig('t.record'), args: 5 }] },
      /args must be a list/,
    ],
    ['a chain entry that is not a signature', { chain: [7] }, /embed\.chain\[0\] is not a signature/],
    [
      'a task name that is not a string',
      { link: [{ ...sig('t.record'), task: 5 }] },
      /task name must be a non-empty string/,
    ],
    [
      'a chord without a body',
      { chain: [{ ...sig('celery.chord'), subtask_type: 'chord', kwargs: { header: [] } }] },
      /a chord needs a body/,
    ],
  ];
  it.each(cases)('fails the task for %s, and the worker keeps serving', async (_what, options, message) => {
    const { app } = setup();
    await t.startWorker();
    const r = await app.sendTask('t.add', [1, 2], {}, options as never);
    const err = (await get(r.id).catch((e) => e)) as TaskError;
    expect(err).toBeInstanceOf(TaskError);
    expect(err.excType).toBe('TypeError');
    expect(String(err.excMessage[0])).toMatch(message);
    expect(await get((await app.sendTask('t.add', [2, 2])).id)).toBe(4);
  });

  it('fails celery.chord without a body, as Python binds its arguments', async () => {
    setup();
    await t.startWorker();
    const missing = await t.app.sendTask('celery.chord', [[sig('t.add', [1, 1])]]);
    const err = (await get(missing.id).catch((e) => e)) as TaskError;
    expect(err.excType).toBe('TypeError');
    expect(err.excMessage).toEqual(["celery.chord() missing 1 required positional argument: 'body'"]);
    const none = await t.app.sendTask('celery.chord', [[sig('t.add', [1, 1])], null]);
    expect(((await get(none.id).catch((e) => e)) as TaskError).excMessage).toEqual([
      'celery.chord: a chord needs a body',
    ]);
  });
});
