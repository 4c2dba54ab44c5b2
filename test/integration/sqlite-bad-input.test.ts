/**
 * Issue 17 on SQLite: rows another tool wrote into the messages table with headers or properties that
 * are not JSON objects are dead-lettered (their columns kept), not thrown out of the take, which would
 * leave every message of the batch claimed and never delivered, the consume loop failing for ever.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { DEAD_HEADERS } from '../../src/middleware/dead-letter.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { CORPUS_TASKS, sqliteRowCases } from '../chaos/corpus.js';
import { uniq, waitUntil } from '../helpers/services.js';

const root = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-bad-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let app: Celeriac | null = null;
let worker: Worker | null = null;
afterEach(async () => {
  await worker?.stop();
  await app?.close();
});

describe('sqlite: bad rows (issue 17)', () => {
  it('every bad row of the corpus is dead-lettered or runs, and valid tasks around them run', async () => {
    const path = join(root, `${uniq('bad')}.db`);
    app = new Celeriac({ broker: `sqlite://${path}` });
    app.task(CORPUS_TASKS.ok, (n: number) => n, { params: ['n'] });
    const logs: string[] = [];
    worker = app.worker({ logger: createLogger('warn', (l) => logs.push(l)), pool: 'async' });
    await worker.start();
    const cases = sqliteRowCases(uniq('rows'));
    const db = new Database(path);
    const insert = db.prepare(
      'INSERT INTO messages (queue, priority, created_at, content_type, content_encoding, headers, properties, body) VALUES (?, 0, ?, ?, ?, ?, ?, ?)',
    );
    for (const { row: r } of cases) {
      insert.run('celery', Date.now(), r.content_type, r.content_encoding, r.headers, r.properties, r.body);
    }
    db.close();
    const after = await app.sendTask(CORPUS_TASKS.ok, [7]);
    expect(await after.get({ timeout: 10 })).toBe(7);
    const broker = await app.broker();
    const rejected = cases.filter((c) => c.expect === 'rejected');
    await waitUntil(
      async () => (await broker.size('celeriac.dead-letter')) === rejected.length,
      10_000,
      'dead letters',
    );
    const snap = await broker.browse?.('celeriac.dead-letter', 100);
    const reasons = snap?.messages.map((m) => String(m.headers[DEAD_HEADERS.reason])) ?? [];
    await snap?.close();
    expect(reasons).toContain('the headers column is not JSON: Unexpected end of JSON input');
    expect(reasons).toContain('the properties column is not a JSON object');
    for (const c of cases.filter((c) => c.id)) {
      const r = app.AsyncResult(c.id as string);
      if (c.expect === 'runs') expect(await r.get({ timeout: 10 }), c.name).toBe(1);
      else
        await expect(r.get({ timeout: 10 }), c.name).rejects.toMatchObject({ excType: 'ContentDisallowed' });
    }
    expect(logs.filter((l) => l.includes('consumer:'))).toEqual([]);
  });
});
