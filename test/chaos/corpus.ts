/**
 * The bad-input corpus (issue 17): malformed messages a worker must survive, per layer, so the chaos
 * suite (bad-input.test.ts) and regression tests share one list. Each case says what must become of it:
 *  - 'rejected': it cannot run; it is dead-lettered with a reason, and gets a FAILURE result when an id
 *    can be read (`id`);
 *  - 'fails': it runs into a FAILURE result under `id` (bad canvas fields, wrong arguments, EncodeError);
 *  - 'runs': odd but usable (no delivery tag, a tag that is a number): it runs exactly once, successfully.
 *
 * Layers: message-level cases are WireMessages every transport carries (body, content type, headers,
 * compression, sizes, v1 bodies, canvas fields); envelope-level cases are the bytes a transport stores
 * (Redis: the kombu JSON envelope; SQLite: the row's columns; AMQP: raw properties).
 *
 * The worker the cases expect has the tasks of `CORPUS_TASKS` and workerMessageSizeLimit = SIZE_LIMIT.
 */
import { deflateSync } from 'node:zlib';
import type { WireMessage } from '../../src/protocol/message.js';

/** The worker's workerMessageSizeLimit for this corpus. */
export const SIZE_LIMIT = 1_000_000;

/**
 * `corpus.ok(n)` returns n; `corpus.deep(n)` returns a list nested n deep (a result no encoder takes).
 * Both declare their params, so a wrong number of arguments fails.
 */
export const CORPUS_TASKS = { ok: 'corpus.ok', deep: 'corpus.deep' } as const;

export type Expect = 'rejected' | 'fails' | 'runs';

export interface Case {
  readonly name: string;
  readonly expect: Expect;
  /** The task id a FAILURE (or, for 'runs', the SUCCESS) is stored under; null when none can be read. */
  readonly id: string | null;
}
export interface MessageCase extends Case {
  readonly message: WireMessage;
}
export interface RawCase extends Case {
  /** Redis: the envelope exactly as LPUSHed. */
  readonly raw: string | Buffer;
}
export interface RowCase extends Case {
  /** SQLite: the `messages` columns as inserted by another tool. */
  readonly row: {
    content_type: unknown;
    content_encoding: string;
    headers: string;
    properties: string;
    body: Buffer | string;
  };
}
export interface AmqpRawCase extends Case {
  readonly content: Buffer;
  /** amqplib publish options, including what our own publisher never writes. */
  readonly options: Record<string, unknown>;
}

const EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };

function headers(id: string | null, task: unknown = CORPUS_TASKS.ok): Record<string, unknown> {
  const h: Record<string, unknown> = {
    lang: 'py',
    task,
    retries: 0,
    timelimit: [null, null],
    root_id: id,
    parent_id: null,
    group: null,
    argsrepr: '(1,)',
    kwargsrepr: '{}',
    origin: 'corpus@test',
  };
  if (id !== null) h.id = id;
  return h;
}

function msg(
  id: string | null,
  body: unknown,
  extra: { headers?: Record<string, unknown>; contentType?: string; task?: unknown } = {},
): WireMessage {
  return {
    body: Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    contentType: extra.contentType ?? 'application/json',
    contentEncoding: 'utf-8',
    headers: { ...headers(id, extra.task ?? CORPUS_TASKS.ok), ...extra.headers },
    properties: { correlation_id: id ?? 'none', reply_to: '', delivery_mode: 2, priority: 0 },
  };
}

const v2 = (args: unknown[], kwargs: Record<string, unknown> = {}, embed: unknown = EMBED) =>
  JSON.stringify([args, kwargs, embed]);

function nested(levels: number, leaf: unknown = 1): string {
  return `${'['.repeat(levels)}${JSON.stringify(leaf)}${']'.repeat(levels)}`;
}

/** A valid task: corpus.ok(n) under id `${ns}-valid-${n}`. */
export function validTask(ns: string, n: number): WireMessage {
  return msg(`${ns}-valid-${n}`, v2([n]));
}

/** Cases every transport carries as a message (≥ 50). Ids are `${ns}-<case>`. */
export function messageCases(ns: string): MessageCase[] {
  const cases: MessageCase[] = [];
  let k = 0;
  const add = (name: string, expect: Expect, make: (id: string) => WireMessage, withId = true): void => {
    const id = `${ns}-m${k++}`;
    const m = make(id);
    cases.push({ name, expect, id: withId ? id : null, message: m });
  };
  // Body damage.
  add('body not JSON', 'rejected', (id) => msg(id, 'this is not json {'));
  add('body empty', 'rejected', (id) => msg(id, ''));
  add('body truncated JSON', 'rejected', (id) => msg(id, v2([1]).slice(0, 5)));
  add('body a JSON object under a v2 task header', 'rejected', (id) => msg(id, { args: [1] }));
  add('body an array of one', 'rejected', (id) => msg(id, [[1]]));
  add('body args not a list', 'rejected', (id) => msg(id, '["x", {}, {}]'));
  add('body kwargs not an object', 'rejected', (id) => msg(id, '[[1], [], {}]'));
  add('body null', 'rejected', (id) => msg(id, 'null'));
  add('body a number', 'rejected', (id) => msg(id, '42'));
  add('body a string', 'rejected', (id) => msg(id, '"[[1],{},{}]"'));
  add('body invalid UTF-8', 'rejected', (id) => msg(id, Buffer.from([0x5b, 0xff, 0xfe, 0x5d])));
  add('body with a BOM', 'rejected', (id) => msg(id, `\uFEFF${v2([1])}`));
  add('body NaN', 'rejected', (id) => msg(id, '[[NaN], {}, {}]'));
  add('body with an unknown kombu type marker', 'rejected', (id) =>
    msg(id, v2([{ __type__: 'pickle', __value__: 'gASV' }])),
  );
  // Content types off the accept-list: never decoded.
  add('content type pickle', 'rejected', (id) =>
    msg(id, Buffer.from([0x80, 0x04, 0x95]), { contentType: 'application/x-python-serialize' }),
  );
  add('content type yaml', 'rejected', (id) => msg(id, '- 1', { contentType: 'application/x-yaml' }));
  add('content type msgpack', 'rejected', (id) =>
    msg(id, Buffer.from([0x93, 0x91, 0x01]), { contentType: 'application/x-msgpack' }),
  );
  add('content type empty', 'rejected', (id) => msg(id, v2([1]), { contentType: '' }));
  add('content type upper case', 'rejected', (id) => msg(id, v2([1]), { contentType: 'APPLICATION/JSON' }));
  add('content type text/plain', 'rejected', (id) => msg(id, v2([1]), { contentType: 'text/plain' }));
  // Compression.
  add('compression unknown (bz2)', 'rejected', (id) =>
    msg(id, v2([1]), { headers: { compression: 'application/x-bz2' } }),
  );
  add('compression header on a plain body', 'rejected', (id) =>
    msg(id, v2([1]), { headers: { compression: 'application/x-gzip' } }),
  );
  add('compressed garbage', 'rejected', (id) =>
    msg(id, Buffer.from('78 9c ff ff ff'.replace(/ /g, ''), 'hex'), {
      headers: { compression: 'application/x-gzip' },
    }),
  );
  add('compression bomb: 2 MB of one letter', 'rejected', (id) =>
    msg(id, deflateSync(Buffer.from(v2(['a'.repeat(2_000_000)]))), {
      headers: { compression: 'application/x-gzip' },
    }),
  );
  add('compression bomb: 64 MB of zeros', 'rejected', (id) =>
    msg(id, deflateSync(Buffer.alloc(64 * 1024 * 1024)), { headers: { compression: 'application/x-gzip' } }),
  );
  add('compression header a number (ignored)', 'runs', (id) =>
    msg(id, v2([1]), { headers: { compression: 5 } }),
  );
  // Sizes and depth.
  add('body over the size limit', 'rejected', (id) => msg(id, v2(['x'.repeat(SIZE_LIMIT + 10)])));
  add('args nested 100,000 deep', 'fails', (id) => msg(id, `[[${nested(100_000)}], {}, {}]`));
  add('kwargs nested 50,000 deep', 'fails', (id) =>
    msg(id, `[[1], {"x": ${`{"a":`.repeat(50_000)}1${'}'.repeat(50_000)}}, {}]`),
  );
  add('100,000 arguments to a one-argument task', 'fails', (id) =>
    msg(id, v2(Array.from({ length: 100_000 }, (_, i) => i))),
  );
  add('an unknown keyword argument', 'fails', (id) => msg(id, v2([1], { nope: 1 })));
  add('no arguments for a one-argument task', 'fails', (id) => msg(id, v2([])));
  // Header type confusion.
  add('id header a number', 'rejected', () => msg(null, v2([1]), { headers: { id: 12345 } }), false);
  add('id header an object', 'rejected', () => msg(null, v2([1]), { headers: { id: { a: 1 } } }), false);
  add('id header empty', 'rejected', () => msg(null, v2([1]), { headers: { id: '' } }), false);
  add('task header a number', 'rejected', (id) => msg(id, v2([1]), { task: 7 }));
  add('task header a list', 'rejected', (id) => msg(id, v2([1]), { task: ['corpus.ok'] }));
  add('task header empty', 'rejected', (id) => msg(id, v2([1]), { task: '' }));
  add('unknown task', 'rejected', (id) => msg(id, v2([1]), { task: 'corpus.nope' }));
  add('task named __proto__', 'rejected', (id) => msg(id, v2([1]), { task: '__proto__' }));
  add('task named constructor', 'rejected', (id) => msg(id, v2([1]), { task: 'constructor' }));
  add('eta not a date', 'rejected', (id) => msg(id, v2([1]), { headers: { eta: 'tomorrow-ish' } }));
  add('expires not a date', 'rejected', (id) =>
    msg(id, v2([1]), { headers: { expires: '2026-13-45T99:00' } }),
  );
  // Protocol v1 bodies (no task header).
  const v1 = (id: string | null, body: unknown) => {
    const m = msg(id, body);
    const { task: _t, id: _i, ...rest } = m.headers;
    return { ...m, headers: rest };
  };
  add('v1 without an id', 'rejected', () => v1(null, { task: CORPUS_TASKS.ok, args: [1] }), false);
  add('v1 id a number', 'rejected', () => v1(null, { task: CORPUS_TASKS.ok, id: 5, args: [1] }), false);
  add('v1 task not a string', 'rejected', (id) => v1(null, { task: 5, id, args: [1] }), false);
  add('v1 unknown task', 'rejected', (id) => v1(null, { task: 'corpus.nope', id, args: [1] }));
  add('v1 eta not a date', 'rejected', (id) => v1(null, { task: CORPUS_TASKS.ok, id, eta: 'soon' }), false);
  add('v1 args not a list', 'fails', (id) => v1(null, { task: CORPUS_TASKS.ok, id, args: 'one' }));
  add('neither v1 nor v2', 'rejected', () => v1(null, { hello: 'world' }), false);
  add('no headers at all, v2 body', 'rejected', () => ({ ...msg(null, v2([1])), headers: {} }), false);
  // Bad canvas fields: the task fails with the reason before it runs.
  const canvas = (embed: unknown) => (id: string) => msg(id, v2([1], {}, { ...EMBED, ...(embed as object) }));
  add('callbacks a string', 'fails', canvas({ callbacks: 'corpus.ok' }));
  add('callbacks [{}]', 'fails', canvas({ callbacks: [{}] }));
  add('errbacks [null]', 'fails', canvas({ errbacks: [null] }));
  add('chain task name a number', 'fails', canvas({ chain: [{ task: 5, args: [] }] }));
  add('chain args not a list', 'fails', canvas({ chain: [{ task: CORPUS_TASKS.ok, args: 'x' }] }));
  add('chord a string', 'fails', canvas({ chord: 'x' }));
  add('chord kwargs a list', 'fails', canvas({ chord: { task: CORPUS_TASKS.ok, kwargs: [] } }));
  add('callback nested 1,000 deep', 'fails', (id) => {
    let sig: unknown = { task: CORPUS_TASKS.ok, args: [], kwargs: {}, options: {} };
    for (let i = 0; i < 1000; i++)
      sig = { task: 'celery.chain', subtask_type: 'chain', kwargs: { tasks: [sig] } };
    return msg(id, v2([1], {}, { ...EMBED, callbacks: [sig] }));
  });
  // A result that cannot be encoded (EncodeError).
  add('result nested 100,000 deep', 'fails', (id) => msg(id, v2([100_000]), { task: CORPUS_TASKS.deep }));
  return cases;
}

function envelope(
  id: string | null,
  opts: { body?: unknown; properties?: unknown; headers?: unknown; extra?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    body: 'body' in opts ? opts.body : Buffer.from(v2([1])).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: 'headers' in opts ? opts.headers : headers(id),
    properties:
      'properties' in opts
        ? opts.properties
        : {
            correlation_id: id ?? 'none',
            reply_to: '',
            delivery_mode: 2,
            delivery_info: { exchange: '', routing_key: 'q' },
            priority: 0,
            body_encoding: 'base64',
            delivery_tag: `${id ?? 'none'}-tag`,
          },
    ...opts.extra,
  };
}

/** Redis: kombu envelopes as a broken or hostile producer writes them (≥ 20). */
export function redisEnvelopeCases(ns: string): RawCase[] {
  const out: RawCase[] = [];
  let k = 0;
  const add = (name: string, expect: Expect, make: (id: string) => string | Buffer, withId = true) => {
    const id = `${ns}-r${k++}`;
    out.push({ name, expect, id: withId ? id : null, raw: make(id) });
  };
  const j = (v: unknown) => JSON.stringify(v);
  add('envelope not JSON', 'rejected', () => 'this is not json {', false);
  add('envelope empty', 'rejected', () => '', false);
  add('envelope a JSON array', 'rejected', () => '[1,2,3]', false);
  add('envelope a JSON string', 'rejected', () => '"just a string"', false);
  add('envelope a number', 'rejected', () => '42', false);
  add('envelope null', 'rejected', () => 'null', false);
  add('envelope {}', 'rejected', () => '{}', false);
  add('properties null', 'rejected', (id) => j(envelope(id, { properties: null })));
  add('properties missing', 'rejected', (id) => {
    const e = envelope(id);
    delete e.properties;
    return j(e);
  });
  add('properties a list', 'rejected', (id) => j(envelope(id, { properties: [1] })));
  add('body_encoding hex', 'rejected', (id) => {
    const e = envelope(id) as { properties: Record<string, unknown>; body: string };
    e.properties.body_encoding = 'hex';
    e.body = Buffer.from(v2([1])).toString('hex');
    return j(e);
  });
  add('body a number', 'rejected', (id) => j(envelope(id, { body: 12345 })));
  add('body an object', 'rejected', (id) => j(envelope(id, { body: { args: [1] } })));
  add('headers a list', 'rejected', (id) => j(envelope(id, { headers: [id] })), false);
  add('headers a string', 'rejected', (id) => j(envelope(id, { headers: 'id' })), false);
  add('NaN in headers', 'rejected', (id) => j(envelope(id)).replace('"retries":0', '"retries":NaN'), true);
  add(
    'Infinity in properties',
    'rejected',
    (id) => j(envelope(id)).replace('"priority":0', '"priority":Infinity'),
    true,
  );
  add(
    'hex number in headers',
    'rejected',
    (id) => j(envelope(id)).replace('"retries":0', '"retries":0x10'),
    true,
  );
  add('envelope truncated', 'rejected', (id) => j(envelope(id)).slice(0, 60), false);
  add(
    'invalid UTF-8 outside strings',
    'rejected',
    (id) => Buffer.concat([Buffer.from(j(envelope(id))), Buffer.from([0xff, 0xfe])]),
    true,
  );
  add('1 MB of garbage', 'rejected', () => 'x{'.repeat(512 * 1024), false);
  add('no delivery tag', 'runs', (id) => {
    const e = envelope(id) as { properties: Record<string, unknown> };
    delete e.properties.delivery_tag;
    return j(e);
  });
  add('delivery tag a number', 'runs', (id) => {
    const e = envelope(id) as { properties: Record<string, unknown> };
    e.properties.delivery_tag = 7;
    return j(e);
  });
  add('headers nested deeper than Lua cjson decodes', 'runs', (id) => {
    const e = envelope(id) as { headers: Record<string, unknown> };
    e.headers.deep = '__DEEP__';
    return j(e).replace('"__DEEP__"', nested(2000));
  });
  return out;
}

/** SQLite: rows another tool wrote into the messages table (≥ 8). */
export function sqliteRowCases(ns: string): RowCase[] {
  const out: RowCase[] = [];
  let k = 0;
  const props = JSON.stringify({ correlation_id: 'x', reply_to: '', delivery_mode: 2, priority: 0 });
  const add = (
    name: string,
    expect: Expect,
    row: (id: string) => Partial<RowCase['row']>,
    withId = false,
  ) => {
    const id = `${ns}-s${k++}`;
    out.push({
      name,
      expect,
      id: withId ? id : null,
      row: {
        content_type: 'application/json',
        content_encoding: 'utf-8',
        headers: JSON.stringify(headers(id)),
        properties: props,
        body: Buffer.from(v2([1])),
        ...row(id),
      },
    });
  };
  add('headers not JSON', 'rejected', () => ({ headers: '{"id": ' }));
  add('headers a JSON list', 'rejected', () => ({ headers: '[1, 2]' }));
  add('headers null', 'rejected', () => ({ headers: 'null' }));
  add('headers with NaN', 'rejected', (id) => ({
    headers: `{"id": "${id}", "task": "corpus.ok", "retries": NaN}`,
  }));
  add('properties not JSON', 'rejected', () => ({ properties: 'priority=0' }));
  add('properties a string', 'rejected', () => ({ properties: '"x"' }));
  add('properties empty', 'rejected', () => ({ properties: '' }));
  add('content type a number', 'rejected', () => ({ content_type: 12345 }), true);
  add('body stored as text', 'runs', () => ({ body: v2([1]) }), true);
  return out;
}

/** AMQP: properties our publisher never writes (≥ 6). */
export function amqpRawCases(ns: string): AmqpRawCase[] {
  const out: AmqpRawCase[] = [];
  let k = 0;
  const add = (
    name: string,
    expect: Expect,
    make: (id: string) => Omit<AmqpRawCase, 'name' | 'expect' | 'id'>,
    withId = true,
  ) => {
    const id = `${ns}-a${k++}`;
    out.push({ name, expect, id: withId ? id : null, ...make(id) });
  };
  const body = Buffer.from(v2([1]));
  add('no content type', 'rejected', (id) => ({ content: body, options: { headers: headers(id) } }));
  add('no content type, not JSON', 'rejected', (id) => ({
    content: Buffer.from('x{'),
    options: { headers: headers(id) },
  }));
  add(
    'no headers at all',
    'rejected',
    () => ({ content: body, options: { contentType: 'application/json' } }),
    false,
  );
  add('application/json, binary body', 'rejected', (id) => ({
    content: Buffer.from([0, 1, 2, 0xff]),
    options: { contentType: 'application/json', headers: headers(id) },
  }));
  add(
    'id header a 64-bit integer',
    'rejected',
    () => ({
      content: body,
      options: { contentType: 'application/json', headers: { ...headers(null), id: 2 ** 40 } },
    }),
    false,
  );
  add('task header a table', 'rejected', (id) => ({
    content: body,
    options: { contentType: 'application/json', headers: { ...headers(id), task: { name: 'corpus.ok' } } },
  }));
  add('content encoding gzip, body plain', 'runs', (id) => ({
    content: body,
    options: { contentType: 'application/json', contentEncoding: 'gzip', headers: headers(id) },
  }));
  return out;
}
