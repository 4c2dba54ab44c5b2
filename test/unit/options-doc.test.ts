import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { optionsDocPath, renderOptionsDoc } from '../../scripts/options-doc.js';
import { Celeriac } from '../../src/index.js';

describe('settings', () => {
  it('docs/options.md is generated from the current defaults (run npm run docs:options)', () => {
    expect(readFileSync(optionsDocPath, 'utf8')).toBe(renderOptionsDoc());
  });
  it('fails a misspelt setting with a did-you-mean', () => {
    expect(() => new Celeriac({ taskAcksLat: true } as never)).toThrow(
      'Unknown setting "taskAcksLat" (did you mean "taskAcksLate"?)',
    );
    expect(() => new Celeriac({ workerPrefetchMultiplier: -1 })).toThrow(
      /workerPrefetchMultiplier must be a number >= 0/,
    );
  });
  it('freezes settings once the app exists', () => {
    const app = new Celeriac({ broker: 'memory://' });
    expect(Object.isFrozen(app.conf)).toBe(true);
    expect(app.conf.taskDefaultQueue).toBe('celery');
    expect(app.conf.workerPrefetchMultiplier).toBe(4);
    expect(app.conf.resultExpires).toBe(86_400);
  });
});
