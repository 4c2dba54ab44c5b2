import { describe, expect, it } from 'vitest';
import {
  CONTROL_COMMANDS,
  compileArguments,
  INSPECT_COMMANDS,
  nodesOnline,
  pretty,
  sayReply,
} from '../../src/cli/remote.js';
import { CeleriacError } from '../../src/errors.js';

describe('celeriac inspect/control output (Celery’s celery/bin/base.py)', () => {
  it('prints a reply as `->  node: OK` with the body indented', () => {
    expect(sayReply({ 'w1@h': { ok: 'pong' } }, true)).toBe('->  w1@h: OK\n        pong\n');
    expect(sayReply({ 'w1@h': { ok: 'pong' } }, false)).toBe('->  w1@h: OK\n');
    expect(sayReply({ 'w1@h': { error: "KeyError('x')" } }, true)).toBe(
      "->  w1@h: ERROR\n        KeyError('x')\n",
    );
    expect(sayReply({ 'w1@h': ['a', 'b'] }, true)).toBe('->  w1@h: OK\n    * a\n    * b\n');
    expect(sayReply({ 'w1@h': [] }, true)).toBe('->  w1@h: OK\n    - empty -\n');
    expect(sayReply({ 'w1@h': { clock: 4 } }, true)).toBe('->  w1@h: OK\n    {\n        "clock": 4\n    }\n');
    expect(sayReply({ 'w1@h': null }, true)).toBe('->  w1@h: OK\n    None\n');
    expect(pretty([{ name: 'q', durable: true }])[1]).toBe("* {'name': 'q', 'durable': True}");
    expect(pretty({ b: 1, a: { d: 2, c: 3 } })[1]).toBe(
      '{\n    "a": {\n        "c": 3,\n        "d": 2\n    },\n    "b": 1\n}',
    );
    expect(nodesOnline(1)).toBe('\n1 node online.\n');
    expect(nodesOnline(2)).toBe('\n2 nodes online.\n');
  });

  it('compiles arguments by Celery’s tables, and says what a command takes', () => {
    expect(compileArguments('rate_limit', CONTROL_COMMANDS.rate_limit ?? {}, ['t.add', '5/s'])).toEqual({
      task_name: 't.add',
      rate_limit: '5/s',
    });
    expect(compileArguments('time_limit', CONTROL_COMMANDS.time_limit ?? {}, ['t.add', '1.5', '3'])).toEqual({
      task_name: 't.add',
      soft: 1.5,
      hard: 3,
    });
    expect(compileArguments('terminate', CONTROL_COMMANDS.terminate ?? {}, ['KILL', 'a', 'b'])).toEqual({
      signal: 'KILL',
      task_id: ['a', 'b'],
    });
    expect(compileArguments('revoke', CONTROL_COMMANDS.revoke ?? {}, ['a'])).toEqual({ task_id: ['a'] });
    expect(compileArguments('conf', INSPECT_COMMANDS.conf ?? {}, ['yes'])).toEqual({ with_defaults: true });
    expect(compileArguments('query_task', INSPECT_COMMANDS.query_task ?? {}, ['x', 'y'])).toEqual({
      ids: ['x', 'y'],
    });
    expect(() => compileArguments('pool_grow', CONTROL_COMMANDS.pool_grow ?? {}, ['two'])).toThrow(
      /pool_grow: n must be a whole number, got "two"/,
    );
    const tooMany = () => compileArguments('rate_limit', CONTROL_COMMANDS.rate_limit ?? {}, ['a', 'b', 'c']);
    expect(tooMany).toThrow(CeleriacError);
    expect(tooMany).toThrow(
      "Command 'rate_limit' takes arguments: <task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>",
    );
  });
});
