import { homedir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseSqliteUrl, sqliteDefaults } from '../../src/drivers/sqlite/options.js';
import { ConfigError } from '../../src/errors.js';

const parse = (url: string, options: Record<string, unknown> = {}) =>
  parseSqliteUrl(new URL(url), options, '/work/app');

describe('sqlite:// URLs', () => {
  it('resolves relative, absolute and home paths', () => {
    expect(parse('sqlite://./celeriac.db').path).toBe('/work/app/celeriac.db');
    expect(parse('sqlite://celeriac.db').path).toBe('/work/app/celeriac.db');
    expect(parse('sqlite://./data/q.db').path).toBe('/work/app/data/q.db');
    expect(parse('sqlite://../q.db').path).toBe('/work/q.db');
    expect(parse('sqlite:///var/lib/q.db').path).toBe('/var/lib/q.db');
    expect(parse('sqlite://~/q.db').path).toBe(`${homedir()}/q.db`);
    expect(parse('sqlite://./my%20queue.db').path).toBe('/work/app/my queue.db');
  });

  it('takes kombu-style options from the query and camelCase ones from the options object', () => {
    expect(parse('sqlite://./q.db').options).toEqual(sqliteDefaults);
    const { options } = parse('sqlite://./q.db?visibility_timeout=30&busy_timeout=250', {
      pollingInterval: 0.1,
      visibilityTimeout: 99,
    });
    expect(options).toMatchObject({ visibilityTimeout: 30, busyTimeout: 250, pollingInterval: 0.1 });
    expect(parse('sqlite://./q.db', { visibility_timeout: 5 }).options.visibilityTimeout).toBe(5);
    expect(parse('sqlite://./q.db?synchronous=FULL').options.synchronous).toBe('full');
  });

  it('rejects bad URLs and options with the fix', () => {
    expect(() => parse('sqlite://')).toThrow(/names no file/);
    expect(() => parse('sqlite:///:memory:')).toThrow(/use memory:\/\//);
    expect(() => parse('sqlite://./q.db?visiblity_timeout=3')).toThrow(
      /Unknown sqlite:\/\/ URL option "visiblity_timeout".*visibility_timeout/,
    );
    expect(() => parse('sqlite://./q.db', { visibilityTimout: 3 })).toThrow(
      /Unknown sqlite transport option "visibilityTimout".*visibilityTimeout/,
    );
    expect(() => parse('sqlite://./q.db?visibility_timeout=soon')).toThrow(
      /visibilityTimeout must be a positive number, got "soon"/,
    );
    expect(() => parse('sqlite://./q.db?synchronous=off')).toThrow(ConfigError);
  });
});
