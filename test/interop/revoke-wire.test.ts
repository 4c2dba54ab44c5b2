/**
 * Mingle's revoked ids across languages, with Python Celery 5.2's own LimitedSet: the `revoked` our
 * `hello` replies with is accepted by `LimitedSet.update` (which refuses int stamps, so whole-second
 * stamps must still be sent as floats), and what a Python worker sends (its `_data`: id → [monotonic
 * seconds, id]) is merged here as revoked now.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { RevokedSet } from '../../src/worker/revoked.js';
import { ManualClock } from '../helpers/clock.js';
import { inCI } from '../helpers/services.js';
import { PYTHON, pythonCeleryAvailable } from './harness.js';

const skip = !pythonCeleryAvailable && !inCI;

function python(code: string, input: string): string {
  const r = spawnSync(PYTHON, ['-c', code], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(skip)('revoked ids between Celeriac and Python Celery 5.2', () => {
  it("Celery's LimitedSet.update takes our hello reply, whole-second stamps included", () => {
    const clock = new ManualClock(1_700_000_000_000); // a whole second: JSON would write an int
    const set = new RevokedSet({ clock });
    set.add('whole');
    clock.advance(250);
    set.add('frac');
    const reply = JSON.stringify({ revoked: set.toWire(), clock: 3 });
    const out = python(
      `import json, sys
from celery.utils.collections import LimitedSet
s = LimitedSet(maxlen=50000, expires=10800)
s.update(json.load(sys.stdin)['revoked'])
print(json.dumps(list(s)))`,
      reply,
    );
    expect(JSON.parse(out)).toEqual(['whole', 'frac']);
  });

  it("a Python worker's revoked _data merges here as revoked now", () => {
    const data = python(
      `import json
from celery.utils.collections import LimitedSet
s = LimitedSet(maxlen=50000, expires=10800)
s.add('py-1')
s.add('py-2')
print(json.dumps({'revoked': s._data}))`,
      '',
    );
    const clock = new ManualClock(1_700_000_000_000);
    const set = new RevokedSet({ clock });
    expect(set.merge((JSON.parse(data) as { revoked: unknown }).revoked)).toEqual({ added: 2, skipped: 0 });
    expect(set.ids().sort()).toEqual(['py-1', 'py-2']);
    clock.advance(10_799_000);
    expect(set.has('py-1')).toBe(true); // stamped at our now, not at the Python host's uptime
  });
});
