// `warn` and `warning` are one log level, in code (settings, createLogger) as on the CLI (parseLogLevel).
import { describe, expect, it } from 'vitest';
import { Celeriac, createLogger } from '../../src/index.js';
import { parseLogLevel } from '../../src/util/log.js';

describe('log levels', () => {
  it('warning and warn print the same records with the same label', () => {
    for (const level of ['warn', 'warning'] as const) {
      const lines: string[] = [];
      const log = createLogger(level, (l) => lines.push(l));
      log.log('info', 'hidden');
      log.log('warning', 'shown');
      log.log('warn', 'shown too');
      expect(log.enabled('info')).toBe(false);
      expect(lines.map((l) => l.replace(/^\[[^\]]*: /, '['))).toEqual([
        '[WARNING/MainProcess] shown\n',
        '[WARNING/MainProcess] shown too\n',
      ]);
    }
  });

  it('the setting takes either; the CLI parses either; anything else is an error naming the choices', () => {
    expect(new Celeriac({ broker: 'memory://ll', workerLogLevel: 'warning' }).conf.workerLogLevel).toBe(
      'warning',
    );
    expect(parseLogLevel('WARNING')).toBe('warn');
    expect(parseLogLevel('warn')).toBe('warn');
    expect(() => parseLogLevel('loud')).toThrow(
      'unknown log level "loud" (debug, info, warning or warn, error)',
    );
    expect(() => createLogger('loud' as never)).toThrow('unknown log level "loud"');
  });
});
