/**
 * The metrics documentation and the shipped Grafana dashboard stay true to the code: every series a
 * worker exposes is in docs/observability.md's table, and every series the dashboard queries exists.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { metrics } from '../../src/middleware/metrics.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { uniq } from '../helpers/services.js';

const doc = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8');
const dashboard = readFileSync(new URL('../../docs/grafana-celeriac.json', import.meta.url), 'utf8');

let t: TestApp | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

describe('observability docs', () => {
  it('list every exposed series, and the dashboard queries only those', async () => {
    t = memoryApp({ taskDefaultQueue: uniq('q') });
    const m = metrics();
    t.app.use(m);
    const add = t.app.task('d.add', (x: number, y: number) => x + y);
    await t.startWorker();
    await (await add.delay(1, 2)).get({ timeout: 5 });
    const text = await m.text();
    const exposed = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => x[1] as string);
    expect(exposed.length).toBeGreaterThanOrEqual(17);
    for (const name of exposed) expect(doc, `${name} in docs/observability.md`).toContain(`| \`${name}\` |`);
    const queried = new Set(
      [...dashboard.matchAll(/\b((?:flower|celeriac)_[a-z_]+)/g)].map((x) =>
        (x[1] as string).replace(/_(bucket|count|sum)$/, ''),
      ),
    );
    expect(queried.size).toBeGreaterThan(10);
    for (const name of queried) expect(exposed, `dashboard series ${name}`).toContain(name);
  });
});
