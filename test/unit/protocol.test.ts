/**
 * Bad input to the protocol layer: parseTaskMessage never throws, it answers ok:false with the task id and
 * name when the headers still give them (so the worker can store a FAILURE under that id, as Celery does for
 * a v2 ContentDisallowed, celery-wire.md §1.3), and the error says what was wrong.
 */
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type CeleriacError, ContentDisallowed, ProtocolError } from '../../src/errors.js';
import { decodeJson, encodePythonJson } from '../../src/protocol/json.js';
import {
  buildTaskMessage,
  type ParseResult,
  parseTaskMessage,
  type WireMessage,
} from '../../src/protocol/message.js';

const ID = '0f6a9b0e-8a43-4a7c-9d43-2f4f1c3f5b11';
const NAME = 'tasks.add';
const EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}';

function v2(body: string | Buffer, extra: Partial<WireMessage> = {}, headers: Record<string, unknown> = {}) {
  return {
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'py', task: NAME, id: ID, ...headers },
    properties: { correlation_id: ID, reply_to: 'r', delivery_mode: 2, priority: 0 },
    ...extra,
  } satisfies WireMessage;
}

function failure(r: ParseResult): { error: Error; id: string | null; name: string | null } {
  if (r.ok) throw new Error('expected ok:false');
  return r;
}

describe('parseTaskMessage rejects bad messages without throwing', () => {
  it('a body that is not JSON', () => {
    const f = failure(parseTaskMessage(v2('[[1, 2], {'), ['json']));
    expect(f).toMatchObject({ id: ID, name: NAME });
    expect(f.error).toBeInstanceOf(ProtocolError);
    expect((f.error as CeleriacError).code).toBe('E_PROTOCOL');
    expect(f.error.message).toMatch(/cannot decode application\/json body/);
  });

  it('a v2 body that is not an array', () => {
    const f = failure(parseTaskMessage(v2('{"args": [1, 2]}'), ['json']));
    expect(f).toMatchObject({ id: ID, name: NAME });
    expect(f.error.message).toMatch(/must be an array \[args, kwargs, embed\]/);
  });

  it('a v2 body whose args are not a list, or kwargs not an object', () => {
    expect(failure(parseTaskMessage(v2(`[1, {}, ${EMBED}]`), ['json'])).error.message).toMatch(
      /args must be/,
    );
    expect(failure(parseTaskMessage(v2(`[[1], [], ${EMBED}]`), ['json'])).error.message).toMatch(
      /kwargs must be/,
    );
  });

  it('a v2 message without an id header', () => {
    const msg = v2(`[[1], {}, ${EMBED}]`, {}, { id: undefined });
    const f = failure(parseTaskMessage(msg, ['json']));
    expect(f).toMatchObject({ id: null, name: NAME });
    expect(f.error.message).toMatch(/no "id" header/);
  });

  it('a v1 body without "task" (no task header either): neither protocol', () => {
    const msg = v2('{"id": "x", "args": [1], "kwargs": {}}', { headers: {} });
    const f = failure(parseTaskMessage(msg, ['json']));
    expect(f).toMatchObject({ id: null, name: null });
    expect(f.error).toBeInstanceOf(ProtocolError);
    expect(f.error.message).toMatch(/neither protocol v2 .* nor v1/);
  });

  it('a v1 body without an id', () => {
    const msg = v2('{"task": "tasks.add", "args": [1]}', { headers: {} });
    expect(failure(parseTaskMessage(msg, ['json'])).error.message).toMatch(/v1 message has no "id"/);
  });

  it('a disallowed content type (pickle) is refused before the body is looked at, keeping id and name', () => {
    // A pickle stream; it must never be decoded.
    const pickle = Buffer.from('80049505000000000000008c017894.', 'latin1');
    const msg = v2(pickle, { contentType: 'application/x-python-serialize', contentEncoding: 'binary' });
    const f = failure(parseTaskMessage(msg, ['json']));
    expect(f).toMatchObject({ id: ID, name: NAME });
    expect(f.error).toBeInstanceOf(ContentDisallowed);
    expect((f.error as CeleriacError).code).toBe('E_CONTENT_DISALLOWED');
    expect(f.error.message).toBe(
      'Refusing to deserialize untrusted content of type application/x-python-serialize',
    );
    // Even when the accept-list names it: no pickle decoder exists.
    const g = failure(parseTaskMessage(msg, ['json', 'pickle', 'application/x-python-serialize']));
    expect(g.error).toBeInstanceOf(ContentDisallowed);
  });

  it('JSON itself is refused when the accept-list leaves it out; its full content type is accepted', () => {
    const msg = v2(`[[1], {}, ${EMBED}]`);
    expect(failure(parseTaskMessage(msg, ['yaml'])).error).toBeInstanceOf(ContentDisallowed);
    expect(parseTaskMessage(msg, ['application/json']).ok).toBe(true);
  });

  it('a corrupt zlib body', () => {
    const msg = v2(Buffer.from('this is not a zlib stream'), {}, { compression: 'application/x-gzip' });
    const f = failure(parseTaskMessage(msg, ['json']));
    expect(f).toMatchObject({ id: ID, name: NAME });
    expect(f.error).toBeInstanceOf(ProtocolError);
    expect(f.error.message).toMatch(/cannot decompress application\/x-gzip body/);
  });

  it('a compression we do not support', () => {
    const msg = v2(Buffer.from('BZh9'), {}, { compression: 'application/x-bz2' });
    expect(failure(parseTaskMessage(msg, ['json'])).error.message).toMatch(/unsupported compression/);
  });

  it('an unknown kombu JSON type marker', () => {
    const body = `[[{"__type__": "frobnicate", "__value__": 1}], {}, ${EMBED}]`;
    const f = failure(parseTaskMessage(v2(body), ['json']));
    expect(f).toMatchObject({ id: ID, name: NAME });
    expect(f.error.message).toMatch(/unknown kombu JSON type marker "frobnicate"/);
    expect(() => decodeJson('{"__type__": "nope", "__value__": 1}')).toThrow(ProtocolError);
  });

  it('an ETA that is not a timestamp', () => {
    const f = failure(parseTaskMessage(v2(`[[1], {}, ${EMBED}]`, {}, { eta: 'tomorrow' }), ['json']));
    expect(f).toMatchObject({ id: ID, name: NAME });
    expect(f.error.message).toMatch(/invalid ISO-8601 timestamp "tomorrow"/);
  });
});

describe('parseTaskMessage is lenient where Celery is', () => {
  it('only task and id headers (an older client): every other field takes its default', () => {
    const msg = { ...v2(`[[1], {}]`), headers: { task: NAME, id: ID }, properties: {} };
    const r = parseTaskMessage(msg, ['json']);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.request).toMatchObject({
      protocol: 2,
      args: [1],
      kwargs: {},
      embed: { callbacks: null, errbacks: null, chain: null, chord: null },
      retries: 0,
      eta: null,
      timeLimit: [null, null],
      rootId: ID,
      parentId: null,
      correlationId: ID,
      replyTo: null,
      priority: null,
      argsrepr: '(1,)',
      kwargsrepr: '{}',
    });
  });

  it('unknown headers are ignored, and kept for whoever wants them', () => {
    const r = parseTaskMessage(v2(`[[], {}, ${EMBED}]`, {}, { stamps: {}, x_custom: 1 }), ['json']);
    expect(r.ok && r.request.headers.x_custom).toBe(1);
  });

  it('a valid zlib body decodes', () => {
    const body = deflateSync(Buffer.from(`[[2, 3], {}, ${EMBED}]`));
    const r = parseTaskMessage(v2(body, {}, { compression: 'application/x-gzip' }), ['json']);
    expect(r.ok && r.request.args).toEqual([2, 3]);
  });
});

describe('buildTaskMessage rejects options it cannot honour', () => {
  const spec = { id: ID, name: NAME, args: [], kwargs: {}, origin: 'o', replyTo: 'r', now: new Date() };
  it('an unregistered serializer', () => {
    expect(() => buildTaskMessage({ ...spec, serializer: 'pickle' })).toThrow(/no serializer named "pickle"/);
  });
  it('an unsupported compression', () => {
    expect(() => buildTaskMessage({ ...spec, compression: 'bz2' })).toThrow(/unsupported compression "bz2"/);
  });
});

describe('encodePythonJson', () => {
  it("writes Python's json.dumps bytes (separators, ensure_ascii), as a Python peer's Redis chord part", () => {
    // /usr/bin/python3 -c 'import json; print(json.dumps([1, "id-é", "SUCCESS", {"a": [1, 2.5, None, True, "x\"y"], "b": {}}, []]))'
    expect(encodePythonJson([1, 'id-é', 'SUCCESS', { a: [1, 2.5, null, true, 'x"y'], b: {} }, []])).toBe(
      '[1, "id-\\u00e9", "SUCCESS", {"a": [1, 2.5, null, true, "x\\"y"], "b": {}}, []]',
    );
    // Astral characters as surrogate pairs, as Python escapes them; control characters as JSON does.
    expect(encodePythonJson('😀\n')).toBe('"\\ud83d\\ude00\\n"');
    expect(encodePythonJson({ skip: undefined, d: new Date('2026-01-02T03:04:05Z') })).toBe(
      '{"d": "2026-01-02T03:04:05.000Z"}',
    );
  });
});
