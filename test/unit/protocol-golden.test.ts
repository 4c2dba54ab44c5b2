/**
 * Golden tests: src/protocol against messages and result metas captured from REAL Celery 5.2.6 / kombu 5.2.4
 * (test/fixtures/celery52/capture.py, Redis transport). Each fixture holds the raw kombu envelope or meta
 * exactly as Redis stored it.
 *
 * What may legitimately differ, and is substituted or normalised here:
 * - values Celery derives from its process and clock: task origin, reply_to oid, delivery_tag, ETAs computed
 *   from countdown/expires seconds (we feed Python's values back in);
 * - sub-millisecond digits: a JavaScript Date has milliseconds, Python microseconds;
 * - JSON formatting: Python writes `", "`/`": "` and `\uXXXX` escapes, we write compact UTF-8 (same values,
 *   same key order);
 * - date_done: Celery 5.2 writes a naive UTC timestamp, we write the 5.6 form with `+00:00`;
 * - envelope properties the Redis transport adds (delivery_info, body_encoding, delivery_tag).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TaskError } from '../../src/errors.js';
import { decodeJson, parseIsoDate, toIsoUtc } from '../../src/protocol/json.js';
import {
  buildTaskMessage,
  type Embed,
  parseTaskMessage,
  type TaskMessageSpec,
  type TaskRequest,
  type WireMessage,
} from '../../src/protocol/message.js';
import { uuid3Oid } from '../../src/protocol/oid.js';
import { argsRepr, kwargsRepr, pyRepr } from '../../src/protocol/repr.js';
import { buildMeta, errorFromMeta, type ResultMeta, serializeError } from '../../src/protocol/result.js';

const DIR = new URL('../fixtures/celery52/', import.meta.url);
const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(name, DIR), 'utf8')) as T;
const tid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

interface Envelope {
  body: string;
  'content-type': string;
  'content-encoding': string;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
}
interface MsgFixture {
  case: string;
  inputs: Record<string, unknown>;
  captured_at: string;
  messages: { key: string; raw: string }[];
}
interface MetaFixture {
  case: string;
  key: string;
  raw: string;
}

/** kombu's Redis envelope → the transport-neutral message our parser reads. */
function toWire(raw: string): { wire: WireMessage; env: Envelope } {
  const env = JSON.parse(raw) as Envelope;
  const body =
    env.properties.body_encoding === 'base64'
      ? Buffer.from(env.body, 'base64')
      : Buffer.from(env.body, 'utf8');
  const wire: WireMessage = {
    body,
    contentType: env['content-type'],
    contentEncoding: env['content-encoding'],
    headers: env.headers,
    properties: env.properties,
  };
  return { wire, env };
}

function msg(name: string, index = 0): { fx: MsgFixture; wire: WireMessage; env: Envelope; key: string } {
  const fx = load<MsgFixture>(`msg-${name}.json`);
  const m = fx.messages[index];
  if (!m) throw new Error(`msg-${name}.json has no message ${index}`);
  return { fx, key: m.key, ...toWire(m.raw) };
}

function parsed(wire: WireMessage): TaskRequest {
  const r = parseTaskMessage(wire, ['json']);
  if (!r.ok) throw r.error;
  return r.request;
}

const plainBody = (wire: WireMessage): Buffer =>
  wire.headers.compression ? inflateSync(wire.body) : wire.body;

/** Python's body re-serialised compactly: same values and key order as the bytes we must produce. */
const canonical = (wire: WireMessage): string => JSON.stringify(JSON.parse(plainBody(wire).toString('utf8')));

/** Drop the microsecond digits a Date cannot hold: `…05.592776+00:00` → `…05.592000+00:00`. */
const toMs = (v: unknown): unknown =>
  typeof v === 'string' ? v.replace(/(\.\d{3})\d{3}(?=[+-Z]|$)/, '$1000') : v;

const NONE_EMBED: Embed = { callbacks: null, errbacks: null, chain: null, chord: null };

/** Every field a protocol v2 request from a plain apply_async has, then the case's own. */
function expectRequest(req: TaskRequest, wire: WireMessage, want: Partial<TaskRequest>): void {
  const id = want.id ?? (wire.headers.id as string);
  const base: Partial<TaskRequest> = {
    protocol: 2,
    id,
    name: 'tasks.add',
    kwargs: {},
    embed: NONE_EMBED,
    retries: 0,
    eta: null,
    expires: null,
    timeLimit: [null, null],
    rootId: id,
    parentId: null,
    group: null,
    groupIndex: null,
    correlationId: id,
    replyTo: wire.properties.reply_to as string,
    ignoreResult: false,
    shadow: null,
    priority: 0,
  };
  for (const [k, v] of Object.entries({ ...base, ...want })) {
    expect(req[k as keyof TaskRequest], k).toEqual(v);
  }
  if (req.protocol === 2) {
    expect(req.origin).toMatch(/^gen\d+@/);
    expect(req.argsrepr).toBe(wire.headers.argsrepr);
    expect(req.kwargsrepr).toBe(wire.headers.kwargsrepr);
  }
}

describe('parseTaskMessage reads messages published by Celery 5.2', () => {
  it('plain args', () => {
    const { wire } = msg('plain-args');
    expectRequest(parsed(wire), wire, { id: tid(1), args: [2, 3], argsrepr: '(2, 3)', kwargsrepr: '{}' });
  });

  it('kwargs', () => {
    const { wire } = msg('kwargs');
    expectRequest(parsed(wire), wire, { id: tid(2), args: [1], kwargs: { y: 2, note: "it's" } });
    expect(wire.headers.kwargsrepr).toBe("{'y': 2, 'note': 'it\\'s'}");
  });

  it('countdown becomes an absolute eta with +00:00', () => {
    const { wire, fx } = msg('countdown');
    const req = parsed(wire);
    expectRequest(req, wire, { id: tid(3), args: [1, 1], eta: parseIsoDate(wire.headers.eta as string) });
    expect(wire.headers.eta).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    const delta = (req.eta?.getTime() ?? 0) - Date.parse(fx.captured_at);
    expect(delta).toBeGreaterThanOrEqual(29_000);
    expect(delta).toBeLessThan(31_000);
  });

  it('eta + expires datetimes, and the expiration property', () => {
    const { wire } = msg('eta-expires');
    expectRequest(parsed(wire), wire, {
      id: tid(4),
      args: [1, 2],
      eta: new Date('2030-01-02T03:04:05.678Z'),
      expires: new Date('2030-01-02T04:04:05.678Z'),
    });
    expect(wire.headers.eta).toBe('2030-01-02T03:04:05.678000+00:00');
    expect(wire.properties.expiration).toMatch(/^\d+$/);
  });

  it('an eta on a whole second has no fraction', () => {
    const { wire } = msg('eta-whole-second');
    expect(wire.headers.eta).toBe('2030-01-02T03:04:05+00:00');
    expectRequest(parsed(wire), wire, { args: [1, 2], eta: new Date('2030-01-02T03:04:05Z') });
  });

  it('expires in seconds: header = now + 60 s, expiration = "60000"', () => {
    const { wire, fx } = msg('expires-seconds');
    const req = parsed(wire);
    expectRequest(req, wire, { args: [1, 2], expires: parseIsoDate(wire.headers.expires as string) });
    expect(wire.properties.expiration).toBe('60000');
    const delta = (req.expires?.getTime() ?? 0) - Date.parse(fx.captured_at);
    expect(delta).toBeGreaterThanOrEqual(59_000);
    expect(delta).toBeLessThan(61_000);
  });

  it('priority is a property, and kombu put it in the \\x06\\x163 list', () => {
    const { wire, key } = msg('priority');
    expectRequest(parsed(wire), wire, { args: [1, 2], priority: 5 });
    expect(key).toBe('celeriac.golden.publish\x06\x163');
  });

  it('timelimit is [hard, soft]', () => {
    const { wire } = msg('timelimit');
    expect(wire.headers.timelimit).toEqual([30, 25]);
    expectRequest(parsed(wire), wire, { args: [1, 2], timeLimit: [30, 25] });
  });

  it("compression='zlib' is a zlib stream labelled application/x-gzip", () => {
    const { wire } = msg('zlib');
    expect(wire.headers.compression).toBe('application/x-gzip');
    expect([wire.body[0], wire.body[1]]).toEqual([0x78, 0x9c]); // RFC 1950 header, default level
    expectRequest(parsed(wire), wire, { args: [2, 3], kwargs: { z: 1 } });
  });

  it('unicode args and kwargs', () => {
    const { wire, fx } = msg('unicode');
    expectRequest(parsed(wire), wire, { args: fx.inputs.args as unknown[], kwargs: { ключ: 'значение' } });
    expect(wire.headers.argsrepr).toBe("('héllo wörld ✓', '日本語', '🎉')");
  });

  it('protocol v1: empty headers, everything in a dict body', () => {
    const { wire } = msg('protocol-v1');
    expect(wire.headers).toEqual({});
    expectRequest(parsed(wire), wire, {
      protocol: 1,
      id: tid(11),
      args: [2, 3],
      origin: null,
      argsrepr: '(2, 3)',
      kwargsrepr: '{}',
    });
  });

  it('protocol v1 with eta, expires and time limits', () => {
    const { wire } = msg('protocol-v1-eta');
    expectRequest(parsed(wire), wire, {
      protocol: 1,
      id: tid(12),
      args: [2, 3],
      origin: null,
      eta: new Date('2030-01-02T03:04:05.678Z'),
      expires: new Date('2030-01-02T04:04:05.678Z'),
      timeLimit: [30, 25],
    });
  });

  it('chain: the rest of the chain is embedded in reverse order', () => {
    const { wire } = msg('chain');
    const req = parsed(wire);
    expectRequest(req, wire, { id: tid(13), args: [1, 2], embed: req.embed });
    const chain = req.embed.chain ?? [];
    expect(chain.map((s) => [s.task, s.args, s.options.task_id])).toEqual([
      ['tasks.add', [4], tid(15)],
      ['tasks.add', [3], tid(14)],
    ]);
    expect(chain[0]).toMatchObject({ kwargs: {}, subtask_type: null, immutable: false });
    expect(chain[0]?.options.reply_to).toBe(wire.properties.reply_to);
    expect(req.embed.callbacks).toBeNull();
  });

  it('link and link_error become embed callbacks and errbacks', () => {
    const { wire } = msg('link');
    const req = parsed(wire);
    expect(req.embed.callbacks).toEqual([
      {
        task: 'tasks.add',
        args: [10],
        kwargs: {},
        options: { task_id: tid(17) },
        subtask_type: null,
        immutable: false,
      },
    ]);
    expect(req.embed.errbacks).toEqual([
      {
        task: 'tasks.fail',
        args: [],
        kwargs: {},
        options: { task_id: tid(18) },
        subtask_type: null,
        immutable: true,
      },
    ]);
    expectRequest(req, wire, { id: tid(16), args: [1, 2], embed: req.embed });
  });

  it('group members carry the group id (5.2 leaves group_index null for a plain group)', () => {
    const fx = load<MsgFixture>('msg-group.json');
    expect(fx.messages).toHaveLength(3);
    fx.messages.forEach((m, i) => {
      const { wire } = toWire(m.raw);
      expectRequest(parsed(wire), wire, { id: tid(20 + i), args: [i, i], group: tid(19), groupIndex: null });
    });
  });

  it('a retry message re-published by a worker', () => {
    const { wire, fx } = msg('retry');
    const req = parsed(wire);
    expectRequest(req, wire, {
      id: tid(108),
      name: 'tasks.flaky',
      args: [],
      retries: 1,
      parentId: tid(108), // a retry names its own id as parent
      eta: parseIsoDate(wire.headers.eta as string),
    });
    const delta = (req.eta?.getTime() ?? 0) - Date.parse(fx.captured_at);
    expect(delta).toBeGreaterThan(55_000);
    expect(delta).toBeLessThanOrEqual(60_000);
    // The quirk of celery-wire.md §1.1: origin leaks into the properties (and, in 5.2, replaced_task_nesting).
    expect(wire.properties.origin).toMatch(/^gen\d+@/);
    expect(wire.properties.replaced_task_nesting).toBe(0);
  });
});

/** Properties kombu's Redis transport adds to the envelope; not part of the message Celery builds. */
const TRANSPORT_PROPS = new Set(['delivery_info', 'body_encoding', 'delivery_tag']);

/** The spec that reproduces a captured message, from the fixture inputs and Python's clock-derived values. */
function specFor(fx: MsgFixture, wire: WireMessage, req: TaskRequest): TaskMessageSpec {
  const inp = fx.inputs;
  const expiration = wire.properties.expiration;
  const expires = req.expires;
  return {
    id: req.id,
    name: inp.name as string,
    args: (inp.args as unknown[] | undefined) ?? req.args,
    kwargs: (inp.kwargs as Record<string, unknown> | undefined) ?? req.kwargs,
    origin: req.origin ?? 'unused-in-v1',
    replyTo: req.replyTo ?? '',
    eta: req.eta,
    expires,
    retries: req.retries,
    timeLimit: [(inp.time_limit as number) ?? null, (inp.soft_time_limit as number) ?? null],
    rootId: req.rootId,
    parentId: req.parentId,
    group: req.group,
    groupIndex: req.groupIndex,
    priority: (inp.priority as number) ?? null,
    embed: req.embed,
    compression: (inp.compression as string) ?? null,
    protocol: (inp.protocol as 1 | 2) ?? 2,
    // Python's publish time, recovered from the expiration it wrote.
    now:
      expires && typeof expiration === 'string'
        ? new Date(expires.getTime() - Number(expiration))
        : new Date(),
  };
}

const BUILD_CASES = [
  'plain-args',
  'kwargs',
  'countdown',
  'eta-expires',
  'eta-whole-second',
  'expires-seconds',
  'priority',
  'timelimit',
  'zlib',
  'unicode',
  'protocol-v1',
  'protocol-v1-eta',
  'chain',
  'link',
  'group',
  'retry',
];

describe('buildTaskMessage writes what Celery 5.2 writes', () => {
  it.each(BUILD_CASES)('%s', (name) => {
    const fx = load<MsgFixture>(`msg-${name}.json`);
    for (const m of fx.messages) {
      const { wire: py } = toWire(m.raw);
      const req = parsed(py);
      const ours = buildTaskMessage(specFor(fx, py, req));

      // Headers: same keys in the same order, same values (ETAs to the millisecond).
      expect(Object.keys(ours.headers)).toEqual(Object.keys(py.headers));
      for (const [k, v] of Object.entries(py.headers)) expect(ours.headers[k], k).toEqual(toMs(v));

      // Body: same JSON values and key order (Python's whitespace and \u escapes aside).
      expect(plainBody(ours).toString('utf8')).toBe(canonical(py));
      expect(ours.contentType).toBe(py.contentType);
      expect(ours.contentEncoding).toBe(py.contentEncoding);

      // Properties: Celery's own keys in Celery's order with Celery's values.
      const extra = name === 'retry' ? new Set(['origin', 'replaced_task_nesting']) : new Set<string>();
      const pyProps = Object.fromEntries(
        Object.entries(py.properties).filter(([k]) => !TRANSPORT_PROPS.has(k) && !extra.has(k)),
      );
      expect(Object.keys(ours.properties)).toEqual(Object.keys(pyProps));
      expect(ours.properties).toEqual(pyProps);
    }
  });

  it('our zlib stream is what Celery writes: zlib header, and Python inflates it', () => {
    const { fx, wire: py } = msg('zlib');
    const ours = buildTaskMessage(specFor(fx, py, parsed(py)));
    expect(ours.headers.compression).toBe('application/x-gzip');
    expect([ours.body[0], ours.body[1]]).toEqual([py.body[0], py.body[1]]);
    expect(JSON.parse(inflateSync(ours.body).toString('utf8'))).toEqual(JSON.parse(canonical(py)));
    if (!existsSync('/usr/bin/python3')) return;
    const script = 'import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))';
    const inflated = execFileSync('/usr/bin/python3', ['-c', script], { input: ours.body });
    expect(inflated.toString('utf8')).toBe(canonical(py));
  });
});

describe('result metas match what a Celery 5.2 worker stored', () => {
  const meta = (name: string): { fx: MetaFixture; py: ResultMeta } => {
    const fx = load<MetaFixture>(`meta-${name}.json`);
    return { fx, py: JSON.parse(fx.raw) as ResultMeta };
  };

  /** Celery 5.2 writes date_done naive (UTC); we write 5.6's `+00:00` form of the same instant. */
  function expectSameMeta(ours: ResultMeta, py: ResultMeta): void {
    expect(Object.keys(ours)).toEqual(Object.keys(py));
    expect(Object.keys(ours).at(-1)).toBe('task_id');
    expect({ ...ours, date_done: null }).toEqual({ ...py, date_done: null });
    if (py.date_done === null) expect(ours.date_done).toBeNull();
    else {
      expect(py.date_done).not.toMatch(/[+Z]/); // 5.2: datetime.utcnow().isoformat()
      expect(ours.date_done).toMatch(/\+00:00$/);
      expect(parseIsoDate(ours.date_done as string).getTime()).toBe(parseIsoDate(py.date_done).getTime());
    }
  }
  const doneAt = (py: ResultMeta): Date => (py.date_done ? parseIsoDate(py.date_done) : new Date());

  it('SUCCESS', () => {
    const { py } = meta('success');
    expect(py.task_id).toBe(tid(100));
    expectSameMeta(buildMeta(tid(100), 'SUCCESS', 5, null, doneAt(py)), py);
  });

  it('FAILURE: serializeError gives the exception triple, errorFromMeta reads it back', () => {
    const { py } = meta('failure');
    class ValueError extends Error {
      override name = 'ValueError';
    }
    const triple = serializeError(new ValueError('boom "x"'));
    expect(triple).toEqual(py.result);
    expect(Object.keys(triple)).toEqual(Object.keys(py.result as object));
    expectSameMeta(buildMeta(tid(101), 'FAILURE', triple, py.traceback, doneAt(py)), py);

    const err = errorFromMeta(py);
    expect(err).toBeInstanceOf(TaskError);
    expect(err.excType).toBe('ValueError');
    expect(err.excModule).toBe('builtins');
    expect(err.excMessage).toEqual(['boom "x"']);
    expect(err.traceback).toBe(py.traceback);
    expect(err.traceback).toContain('ValueError: boom "x"');
    expect(err.message).toBe('ValueError: boom "x"');
  });

  it('RETRY: exception triple, no date_done, and the re-sent message (same id) as a child', () => {
    const { py } = meta('retry');
    expect(py.date_done).toBeNull();
    const children = [[[tid(108), null], null]];
    expect(py.children).toEqual(children);
    const triple = serializeError(new TaskError('ValueError', 'builtins', ['again'], null));
    expectSameMeta(buildMeta(tid(108), 'RETRY', triple, py.traceback, new Date(), { children }), py);
    expect(errorFromMeta(py).excMessage).toEqual(['again']);
  });

  it('parent_id goes before task_id', () => {
    const { py } = meta('success-parent');
    expectSameMeta(buildMeta(tid(103), 'SUCCESS', 6, null, doneAt(py), { parentId: tid(102) }), py);
  });

  it('group_id goes before task_id', () => {
    const { py } = meta('success-group-member');
    expectSameMeta(buildMeta(tid(106), 'SUCCESS', 2, null, doneAt(py), { groupId: tid(104) }), py);
  });

  it('result_extended=True: name, args, kwargs, worker, retries, queue, then task_id', () => {
    const { py } = meta('success-extended');
    // Given in a scrambled order on purpose: the meta's order is fixed.
    const extended = {
      queue: 'celeriac.golden.worker',
      worker: 'golden@fixtures',
      retries: 0,
      kwargs: { y: 5 },
      args: [2],
      name: 'tasks.add',
    };
    expectSameMeta(buildMeta(tid(109), 'SUCCESS', 7, null, doneAt(py), { extended }), py);
  });

  it('a saved GroupResult is {"result": [[gid, null], [[[id, null], null], …]]}', () => {
    const { fx } = meta('groupresult');
    const children = [tid(105), tid(106), tid(107)].map((id) => [[id, null], null]);
    expect(JSON.parse(fx.raw)).toEqual({ result: [[tid(104), null], children] });
    expect(fx.key).toBe(`celery-taskset-meta-${tid(104)}`);
  });
});

interface ReprFixture {
  values: { json: string; repr: string; args_saferepr: string; kwargs_saferepr: string }[];
  args: { json: string; args_saferepr: string }[];
  kwargs: { json: string; kwargs_saferepr: string }[];
}

describe('argsrepr/kwargsrepr match Celery saferepr, pyRepr matches Python repr', () => {
  const fx = load<ReprFixture>('repr.json');
  it.each(fx.values)('$json', (v) => {
    const value = JSON.parse(v.json) as unknown;
    expect(pyRepr(value)).toBe(v.repr);
    expect(argsRepr([value])).toBe(v.args_saferepr);
    expect(kwargsRepr({ v: value })).toBe(v.kwargs_saferepr);
  });
  it.each(fx.args.map((a) => [a.json.slice(0, 40), a] as const))('args %s', (_, a) => {
    expect(argsRepr(JSON.parse(a.json) as unknown[])).toBe(a.args_saferepr);
  });
  it.each(fx.kwargs.map((a) => [a.json.slice(0, 40), a] as const))('kwargs %s', (_, a) => {
    expect(kwargsRepr(JSON.parse(a.json) as Record<string, unknown>)).toBe(a.kwargs_saferepr);
  });
  it('the headers Celery wrote are what argsRepr/kwargsRepr compute', () => {
    for (const name of BUILD_CASES.filter((n) => !n.startsWith('protocol-v1'))) {
      for (const m of load<MsgFixture>(`msg-${name}.json`).messages) {
        const { wire } = toWire(m.raw);
        const req = parsed(wire);
        expect(argsRepr(req.args)).toBe(wire.headers.argsrepr);
        expect(kwargsRepr(req.kwargs)).toBe(wire.headers.kwargsrepr);
      }
    }
  });
});

describe('uuid3Oid', () => {
  const fx = load<{ oids: { name: string; uuid3: string }[] }>('oid.json');
  it.each(fx.oids)('uuid3(NAMESPACE_OID, "$name")', ({ name, uuid3 }) => {
    expect(uuid3Oid(name)).toBe(uuid3);
  });
});

describe('timestamps', () => {
  it('parseIsoDate reads naive timestamps as UTC (Celery 5.2 date_done, naive ETAs)', () => {
    expect(parseIsoDate('2026-11-24T00:50:57.153051').toISOString()).toBe('2026-11-24T00:50:57.153Z');
    expect(parseIsoDate('2030-01-02T03:04:05').toISOString()).toBe('2030-01-02T03:04:05.000Z');
  });
  it('parseIsoDate honours offsets and Z (kombu 5.2 writes datetimes in arguments with Z)', () => {
    expect(parseIsoDate('2030-01-02T03:04:05.678000+00:00').toISOString()).toBe('2030-01-02T03:04:05.678Z');
    expect(parseIsoDate('2030-01-02T03:04:05.678000+01:00').toISOString()).toBe('2030-01-02T02:04:05.678Z');
    expect(parseIsoDate('2030-01-02T03:04:05.678Z').toISOString()).toBe('2030-01-02T03:04:05.678Z');
  });
  it('toIsoUtc writes Python isoformat(): microseconds, or no fraction on a whole second', () => {
    expect(toIsoUtc(new Date('2030-01-02T03:04:05.678Z'))).toBe('2030-01-02T03:04:05.678000+00:00');
    expect(toIsoUtc(new Date('2030-01-02T03:04:05Z'))).toBe('2030-01-02T03:04:05+00:00');
  });
  it('toIsoUtc gives each instant its own text when instants repeat and alternate (its one-entry memo)', () => {
    const a = new Date('2030-01-02T03:04:05.678Z');
    const b = new Date('2030-01-02T03:04:05.679Z');
    const seq = [a, a, b, new Date(a.getTime()), b, new Date('2030-01-02T03:04:06Z'), a];
    expect(seq.map(toIsoUtc)).toEqual([
      '2030-01-02T03:04:05.678000+00:00',
      '2030-01-02T03:04:05.678000+00:00',
      '2030-01-02T03:04:05.679000+00:00',
      '2030-01-02T03:04:05.678000+00:00',
      '2030-01-02T03:04:05.679000+00:00',
      '2030-01-02T03:04:06+00:00',
      '2030-01-02T03:04:05.678000+00:00',
    ]);
  });
});

describe('kombu >= 5.3 JSON type markers (hand-written from celery-wire.md §1.3; 5.2 cannot produce them)', () => {
  // The result captured from celery 5.6.3 / kombu 5.6.2, as quoted in celery-wire.md §1.3.
  const text =
    '{"dt": {"__type__": "datetime", "__value__": "2024-01-02T03:04:05+00:00"}, ' +
    '"dec": {"__type__": "decimal", "__value__": "1.5"}, ' +
    '"u": {"__type__": "uuid", "__value__": {"hex": "00000000000000000000000000000001"}}, ' +
    '"b": {"__type__": "base64", "__value__": "/wA="}, ' +
    '"d": {"__type__": "date", "__value__": "2024-01-02"}}';

  it('decodes every marker kind', () => {
    const v = decodeJson(text) as Record<string, unknown>;
    expect(v.dt).toEqual(new Date('2024-01-02T03:04:05Z'));
    expect(v.dec).toBe('1.5');
    expect(v.u).toBe('00000000-0000-0000-0000-000000000001');
    expect(v.b).toEqual(Buffer.from([0xff, 0x00]));
    expect(v.d).toBe('2024-01-02');
    expect(decodeJson('{"__type__": "bytes", "__value__": "hi"}')).toBe('hi');
    expect(decodeJson('{"__type__": "time", "__value__": "03:04:05"}')).toBe('03:04:05');
  });

  it('a message whose args hold markers parses to revived values', () => {
    const body = `[[${text}], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`;
    const r = parseTaskMessage(
      {
        body: Buffer.from(body),
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: { task: 'tasks.add', id: tid(1) },
        properties: {},
      },
      ['json'],
    );
    expect(r.ok && (r.request.args[0] as Record<string, unknown>).dt).toEqual(
      new Date('2024-01-02T03:04:05Z'),
    );
  });

  it('an object with other keys besides the two marker keys stays an object', () => {
    expect(decodeJson('{"__type__": "decimal", "__value__": "1", "x": 1}')).toEqual({
      __type__: 'decimal',
      __value__: '1',
      x: 1,
    });
  });
});
