import { describe, expect, it } from 'vitest';
import { parseEnvelope } from '../../src/brokers/redis/envelope.js';
import { intern, internField } from '../../src/util/intern.js';

describe('intern', () => {
  it('returns the same content, and non-strings and long strings as they are', () => {
    const a = JSON.parse('"bench.sleep1"') as string;
    expect(intern(a)).toBe('bench.sleep1');
    expect(intern(7)).toBe(7);
    expect(intern(null)).toBe(null);
    const long = 'x'.repeat(500);
    expect(intern(long)).toBe(long);
  });

  it('internField changes only string fields and adds none', () => {
    const o: Record<string, unknown> = { a: 'py', b: 3 };
    internField(o, 'a');
    internField(o, 'b');
    internField(o, 'c');
    expect(o).toEqual({ a: 'py', b: 3 });
    expect('c' in o).toBe(false);
  });

  it('keeps every value of a parsed envelope', () => {
    const env = {
      body: Buffer.from('[[],{},{}]').toString('base64'),
      'content-encoding': 'utf-8',
      'content-type': 'application/json',
      headers: { lang: 'py', task: 't.x', id: 'abc', root_id: 'abc', origin: 'gen1@h', argsrepr: '()' },
      properties: {
        correlation_id: 'abc',
        reply_to: 'r-1',
        delivery_info: { exchange: '', routing_key: 'celery' },
        body_encoding: 'base64',
        delivery_tag: 'tag-1',
        priority: 0,
      },
    };
    const raw = JSON.stringify(env);
    for (let i = 0; i < 3; i++) {
      const p = parseEnvelope(raw);
      expect(p.message.headers).toEqual(env.headers);
      expect(p.message.properties).toEqual({
        correlation_id: 'abc',
        reply_to: 'r-1',
        delivery_info: { exchange: '', routing_key: 'celery' },
        priority: 0,
      });
      expect(p.routingKey).toBe('celery');
      expect(p.tag).toBe('tag-1');
    }
  });
});
