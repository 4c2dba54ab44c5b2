/**
 * What our canvas publishes, against what Celery 5.2's client publishes for the same workflow
 * (test/fixtures/canvas/published.json, from test/fixtures/canvas/capture.py: headers `task, id, group,
 * group_index, root_id, parent_id` and the decoded `[args, kwargs, embed]` of every message, ids
 * replaced by <id:N> in order of first appearance). Messages are read through a publish hook (the
 * `before_task_publish` signal carries the headers but not the embed). No worker runs here.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, chain, chord, group, signature } from '../../src/index.js';
import { parseTaskMessage } from '../../src/protocol/message.js';
import { memoryApp, type TestApp } from '../helpers/app.js';

interface Captured {
  headers: Record<string, unknown>;
  body: [unknown[], Record<string, unknown>, Record<string, unknown>];
}
const golden = new Map(
  (
    JSON.parse(readFileSync(new URL('../fixtures/canvas/published.json', import.meta.url), 'utf8')) as Array<{
      case: string;
      messages: Captured[];
    }>
  ).map((c) => [c.case, c.messages]),
);

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
function normalize(messages: Captured[]): Captured[] {
  const ids = new Map<string, number>();
  const text = JSON.stringify(messages).replace(UUID, (id) => {
    if (!ids.has(id)) ids.set(id, ids.size);
    return `<id:${ids.get(id)}>`;
  });
  return JSON.parse(text);
}

let t: TestApp;
let sent: Captured[];
afterEach(async () => {
  await t?.close();
});

function setup() {
  t = memoryApp();
  sent = [];
  t.app.use({
    name: 'capture',
    beforePublish(task) {
      const parsed = parseTaskMessage(task.message, ['application/json']);
      if (!parsed.ok) throw parsed.error;
      const h = task.message.headers;
      const r = parsed.request;
      sent.push({
        headers: {
          task: h.task,
          id: h.id,
          group: h.group,
          group_index: h.group_index,
          root_id: h.root_id,
          parent_id: h.parent_id,
        },
        body: [r.args, r.kwargs, { ...r.embed }],
      });
    },
  });
  const add = t.app.task('tasks.add', (x: number, y: number) => x + y);
  const mul = t.app.task('tasks.mul', (x: number, y: number) => x * y);
  const tsum = t.app.task('tasks.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  const echo = t.app.task('tasks.echo', (...args: unknown[]) => args);
  return { add, mul, tsum, echo };
}

/** Our chord bodies also carry group_id = the header's group (Celery 5.6 does; 5.2, captured, does not). */
function dropBodyGroupId(messages: Captured[]): Captured[] {
  for (const m of messages) {
    const body = m.body[2].chord as { options: Record<string, unknown> } | null;
    if (!body) continue;
    expect(body.options.group_id ?? m.headers.group).toBe(m.headers.group);
    delete body.options.group_id;
  }
  return messages;
}

describe("published as Celery 5.2's client publishes", () => {
  it('a chain: one message, the rest reversed in embed.chain with ids fixed and countdown kept', async () => {
    const { add, mul } = setup();
    const r = await chain(add.s(1, 2), add.s(3).set({ countdown: 2 }), mul.s(10)).applyAsync();
    expect(normalize(sent)).toEqual(golden.get('chain'));
    const embedChain = sent[0]!.body[2].chain as Array<{ options: { task_id: string } }>;
    expect(r.id).toBe(embedChain[0]?.options.task_id);
    expect(r.parent?.id).toBe(embedChain[1]?.options.task_id);
    expect(r.parent?.parent?.id).toBe(sent[0]?.headers.id);
  });

  it('a group: every member with group = the group id, no group_index; the GroupResult saved', async () => {
    const { add } = setup();
    const g = await group(add.s(1, 1), add.s(2, 2)).applyAsync();
    expect(normalize(sent)).toEqual(golden.get('group'));
    expect(sent[0]?.headers.group).toBe(g.id);
    expect(await (await t.app.backend()).getGroup(g.id)).toEqual(g.results.map((x) => x.id));
  });

  it('a chord: header members with group, group_index and embed.chord = the body', async () => {
    const { add, tsum } = setup();
    const r = await chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync();
    expect(normalize(dropBodyGroupId(sent))).toEqual(golden.get('chord'));
    expect(r.id).toBe((sent[0]!.body[2].chord as { options: { task_id: string } }).options.task_id);
    expect(r.parent?.id).toBe(sent[0]?.headers.group);
  });

  it('a group then a step inside a chain becomes a chord in embed.chain (celery.chord, header a celery.group)', async () => {
    const { add, mul, tsum } = setup();
    const r = await chain(add.s(1, 1), group(mul.s(2), mul.s(3)), tsum.s()).applyAsync();
    expect(normalize(sent)).toEqual(golden.get('chain_group_task'));
    const c = (sent[0]!.body[2].chain as Array<{ kwargs: { body: { options: { task_id: string } } } }>)[0];
    expect(r.id).toBe(c?.kwargs.body.options.task_id);
    expect(r.parent?.parent?.id).toBe(sent[0]?.headers.id); // body → header group → first step
  });

  it('a chord inside a chain, and a chain ending in a group', async () => {
    const { add, mul, tsum } = setup();
    await chain(add.s(1, 1), chord([mul.s(2), mul.s(3)], tsum.s())).applyAsync();
    expect(normalize(sent)).toEqual(golden.get('chain_chord'));
    sent.length = 0;
    await chain(add.s(1, 1), group(mul.s(2), mul.s(3))).applyAsync();
    expect(normalize(sent)).toEqual(golden.get('chain_ending_in_group'));
  });

  it('a chain inside a group: its last step carries the group id, its first goes without', async () => {
    const { add, mul } = setup();
    const g = await group(add.s(1, 1).pipe(mul.s(2)), add.s(2, 2)).applyAsync();
    expect(normalize(sent)).toEqual(golden.get('group_of_chains'));
    expect(g.results[0]?.id).toBe(
      (sent[0]!.body[2].chain as Array<{ options: { task_id: string } }>)[0]?.options.task_id,
    );
  });

  it('a chain as a chord body', async () => {
    const { add, mul, tsum } = setup();
    await chord([add.s(1, 1), add.s(2, 2)], tsum.s().pipe(mul.s(10))).applyAsync();
    // Our body chain carries group_id on its last step (Celery 5.6's body.freeze(group_id=…)).
    for (const m of sent) {
      const steps = (m.body[2].chord as { kwargs: { tasks: Array<{ options: Record<string, unknown> }> } })
        .kwargs.tasks;
      expect(steps[1]?.options.group_id).toBe(m.headers.group);
      delete steps[1]?.options.group_id;
    }
    expect(normalize(sent)).toEqual(golden.get('chord_chain_body'));
  });

  it('a group in a chord header is unrolled (indexes in member order; Celery 5.2 reverses the nested ones)', async () => {
    const { add, tsum } = setup();
    await chord([group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)], tsum.s()).applyAsync();
    const ours = normalize(dropBodyGroupId(sent));
    const theirs = golden.get('chord_group_in_header') as Captured[];
    expect(ours.map((m) => m.body[0])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(ours.map((m) => m.headers.group_index)).toEqual([0, 1, 2]);
    expect(ours.map((m) => m.body[2])).toEqual(theirs.map((m) => m.body[2]));
  });

  it('link and linkError travel as embed callbacks and errbacks', async () => {
    const { add, echo } = setup();
    await add.s(2, 2).link(echo.s()).linkError(echo.si('err')).applyAsync();
    expect(normalize(sent)).toEqual(golden.get('link'));
  });

  it("chunks, map and starmap as Celery's built-in tasks", async () => {
    const { add, tsum } = setup();
    const g = await add
      .chunks(
        [
          [1, 1],
          [2, 2],
          [3, 3],
        ],
        2,
      )
      .applyAsync();
    expect(normalize(sent)).toEqual(golden.get('chunks'));
    expect(g.results).toHaveLength(2);
    sent.length = 0;
    await tsum.map([[1, 2], [3]]).applyAsync();
    expect(normalize(sent)).toEqual(golden.get('map'));
    sent.length = 0;
    await add
      .starmap([
        [1, 2],
        [3, 4],
      ])
      .applyAsync();
    expect(normalize(sent)).toEqual(golden.get('starmap'));
  });

  it('applying never changes the signature applied: twice gives two sets of ids', async () => {
    const { add, mul } = setup();
    const c = chain(add.s(1, 2), mul.s(10));
    const a = await c.applyAsync();
    const b = await c.applyAsync();
    expect(a.id).not.toBe(b.id);
    expect(c.tasks[1]?.options).toEqual({});
  });

  it('a signature by name of a task defined elsewhere (e.g. in Python) publishes through the workflow', async () => {
    const { add } = setup();
    await chain(add.s(1, 2), signature('py.tasks.double')).applyAsync();
    expect((sent[0]!.body[2].chain as Array<{ task: string }>)[0]?.task).toBe('py.tasks.double');
  });
});

describe('chords and the result backend', () => {
  it('calls prepareChord with the group id and the header size before publishing', async () => {
    const { add, tsum } = setup();
    const backend = await t.app.backend();
    const calls: unknown[] = [];
    Object.assign(backend, {
      prepareChord: async (gid: string, size: number, o: unknown) =>
        void calls.push([gid, size, o, sent.length]),
    });
    // A chain counts as one (its last step), a nested group as its members.
    await chord(
      [add.s(1, 1), add.s(2, 2).pipe(add.s(1)), group(add.s(3, 3), add.s(4, 4))],
      tsum.s(),
    ).applyAsync();
    expect(calls).toEqual([[sent[0]?.headers.group, 4, { expires: t.app.conf.resultExpires }, 0]]);
  });

  it("refuses on a backend without chords, with Celery's message", async () => {
    const { add, tsum } = setup();
    const backend = await t.app.backend();
    Object.defineProperty(backend, 'capabilities', { value: { ...backend.capabilities, chords: false } });
    const err = await chord([add.s(1, 1)], tsum.s())
      .applyAsync()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toMatch(/Starting chords requires a result backend that supports them/);
    await expect(chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).applyAsync()).rejects.toThrow(
      ConfigError,
    );
    expect(sent).toHaveLength(0);
  });

  it("falls back to celery.chord_unlock on a backend that cannot count ('unlock')", async () => {
    const { add, tsum } = setup();
    const backend = await t.app.backend();
    Object.defineProperty(backend, 'capabilities', { value: { ...backend.capabilities, chords: 'unlock' } });
    const r = await chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync();
    const unlock = sent.find((m) => m.headers.task === 'celery.chord_unlock');
    const gid = sent[0]?.headers.group as string;
    expect(unlock?.body[0]).toEqual([gid, expect.objectContaining({ task: 'tasks.tsum' })]);
    expect((unlock!.body[0][1] as { options: { task_id: string } }).options.task_id).toBe(r.id);
    expect(unlock?.body[1]).toEqual({ result: sent.slice(0, 2).map((m) => [[m.headers.id, null], null]) });
    expect(await backend.getGroup(gid)).toEqual(sent.slice(0, 2).map((m) => m.headers.id));
  });

  it('an empty header applies the body at once with []', async () => {
    const { tsum } = setup();
    await chord([], tsum.s()).applyAsync();
    expect(sent.map((m) => [m.headers.task, m.body[0]])).toEqual([['tasks.tsum', [[]]]]);
  });

  it('a chord without a body is refused: when built, and when a dict without one is applied', async () => {
    const { add, tsum } = setup();
    expect(() => chord([add.s(1, 1)], null as never)).toThrow(/needs a body/);
    const dict = { ...chord([add.s(1, 1)], tsum.s()).toJSON() };
    dict.kwargs = { ...dict.kwargs, body: null };
    await expect(t.app.chain([dict])).rejects.toThrow(/needs a body/);
    expect(sent).toHaveLength(0);
  });
});
