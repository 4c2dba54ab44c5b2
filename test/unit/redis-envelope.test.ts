/**
 * The Redis envelope helpers on bad input (issue 17): unacked entries whose envelope is not valid JSON
 * are taken apart by hand, undecodable envelopes keep their raw text and, where it can be read, their
 * task id; a message recorded under a fresh tag is restored under it.
 */
import { describe, expect, it } from 'vitest';
import {
  buildEnvelope,
  decodeTaken,
  markRedelivered,
  parseUnackedEntry,
  restorable,
  undecodableMessage,
} from '../../src/brokers/redis/envelope.js';
import { buildTaskMessage } from '../../src/protocol/message.js';

const message = buildTaskMessage({
  id: 'id-1',
  name: 'tasks.add',
  args: [1, 2],
  kwargs: {},
  origin: 'o@h',
  replyTo: 'r',
  now: new Date(),
});
const env = JSON.stringify(buildEnvelope(message, '', 'q', 'tag-1'));

describe('redis envelope: bad input', () => {
  it('an unacked entry with NaN in its envelope is cut out by hand, routing key escapes included', () => {
    const raw = env.replace('"retries":0', '"retries":NaN');
    const entry = parseUnackedEntry(`[${raw},"ex\\"\\\\",${JSON.stringify('rk "x",y')}]`);
    expect(entry).toEqual({ envelope: null, raw, exchange: 'ex"\\', routingKey: 'rk "x",y' });
    expect(restorable(entry, 'tag-1')).toBe(raw);
  });

  it('an envelope the take script stored as a string is restored as those bytes', () => {
    const entry = parseUnackedEntry(JSON.stringify(['this is not json {', '', 'q']));
    expect(restorable(entry, 't')).toBe('this is not json {');
  });

  it('an entry that is not [envelope, exchange, routing_key] at all still throws', () => {
    expect(() => parseUnackedEntry('garbage')).toThrow();
    expect(() => parseUnackedEntry('[NaN, 1, 2]')).toThrow();
  });

  it('a restored message keeps the fresh tag it was recorded under', () => {
    const out = JSON.parse(markRedelivered(env, 'fresh.0'));
    expect(out.properties.delivery_tag).toBe('fresh.0');
    expect(out.headers.redelivered).toBe(true);
  });

  it('an undecodable envelope keeps its raw text, and its id and task when they can be read', () => {
    const nan = env.replace('"retries":0', '"retries":NaN');
    const m = undecodableMessage(nan);
    expect(m.body.toString()).toBe(nan);
    expect(m.headers).toEqual({ id: 'id-1', task: 'tasks.add' });
    expect(undecodableMessage('this is not json {').headers).toEqual({});
    const hex = JSON.parse(env);
    hex.properties.body_encoding = 'hex';
    const { taken } = decodeTaken('t', 'q', JSON.stringify(hex));
    expect(taken.undecodable?.message).toBe('unsupported body_encoding "hex"');
    expect(taken.message.headers).toEqual({ id: 'id-1', task: 'tasks.add' });
    expect(taken.message.properties).toEqual({ reply_to: 'r', correlation_id: 'id-1' });
  });

  it.each([
    ['[1,2,3]', 'message envelope is an array, not an object'],
    ['42', 'message envelope is a number, not an object'],
    ['null', 'message envelope is null, not an object'],
    ['{}', 'message envelope has no properties'],
    ['{"properties": {}, "headers": [1]}', 'message envelope headers are not an object'],
    ['{"properties": {}, "body": 5}', 'message envelope body is not a string'],
  ])('%s: %s', (raw, why) => {
    expect(decodeTaken('t', 'q', raw).taken.undecodable?.message).toBe(why);
  });
});
