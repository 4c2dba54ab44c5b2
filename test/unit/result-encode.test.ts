/**
 * Issue 17, defect 6: a result that cannot be encoded (nested past the stack, a BigInt, a circular
 * structure) is stored as FAILURE with kombu's EncodeError, never left PENDING for ever. Runs on the
 * memory broker with the SQLite result backend (which encodes, as Redis and rpc do) and on memory://.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { uniq } from '../helpers/services.js';

const root = mkdtempSync(join(tmpdir(), 'celeriac-encode-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let app: Celeriac | null = null;
let worker: Worker | null = null;
const logs: string[] = [];
afterEach(async () => {
  await worker?.stop();
  await app?.close();
  worker = null;
  app = null;
  logs.length = 0;
});

function deep(levels: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

const circular = (): unknown => {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
};

async function start(backend: string) {
  const ns = uniq('enc');
  app = new Celeriac({
    broker: `memory://${ns}`,
    backend: backend === 'sqlite' ? `sqlite://${join(root, `${ns}.db`)}` : `memory://${ns}`,
  });
  app.task('tasks.deep', () => deep(100_000));
  app.task('tasks.big', () => 10n);
  app.task('tasks.loop', () => circular());
  app.task('tasks.fine', (x: number) => x + 1);
  worker = app.worker({ logger: createLogger('debug', (l) => logs.push(l)) });
  await worker.start();
  return app;
}

describe.each(['sqlite', 'memory'])('results that cannot be encoded (%s backend)', (backend) => {
  it.each([
    ['tasks.deep', /nested too deeply/],
    ['tasks.big', /BigInt/],
    ['tasks.loop', /circular/],
  ])('%s: FAILURE with EncodeError, not PENDING', async (name, why) => {
    const a = await start(backend);
    const r = await a.sendTask(name, []);
    const err = await r.get({ timeout: 10 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ excType: 'EncodeError', excModule: 'kombu.exceptions' });
    expect(String((err as { excMessage: unknown[] }).excMessage[0])).toMatch(why);
    expect(r.state).toBe('FAILURE');
    expect(logs.some((l) => l.includes(`${name}[${r.id}] SUCCESS cannot be stored`))).toBe(true);
    // The worker goes on, and a good result stored next to it is not harmed.
    expect(await (await a.sendTask('tasks.fine', [1])).get({ timeout: 10 })).toBe(2);
  });
});
