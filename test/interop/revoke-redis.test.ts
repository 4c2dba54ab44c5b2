/**
 * Python Celery 5.2 revokes on a Celeriac worker over Redis: `app.control.revoke(id, terminate=True,
 * signal='SIGKILL')` kills the prefork child spinning in `while (true) {}` and gets Celery's reply,
 * Python's AsyncResult reads REVOKED with TaskRevokedError('terminated'), `inspect().revoked()` lists
 * the id, and the replaced child runs the next task. Needs the worker's remote-control mailbox (the
 * suite is skipped on a build without `app.control`). Isolation: Redis DB 14, a unique queue and node.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { rawClient, skipRedis } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';
import { PYTHON, pythonCeleryAvailable } from './harness.js';

const DB = 14;
const URL_ = `redis://127.0.0.1:6379/${DB}`;
process.env.CELERIAC_BROKER_URL = URL_;
process.env.CELERIAC_RESULT_BACKEND = URL_;
const { app } = await import('../fixtures/apps/revoke.js');
const appModule = fileURLToPath(new URL('../fixtures/apps/revoke.ts', import.meta.url));
const hasControl = 'control' in app;
const skip = ((skipRedis || !pythonCeleryAvailable) && !inCI) || !hasControl;
const dir = mkdtempSync(join(tmpdir(), 'celeriac-rv-py-'));

/**
 * Run a Python Celery 5.2 snippet with `app` bound to this Redis DB; resolves with its JSON output.
 * Asynchronous: the worker under test shares this process's event loop.
 */
function py(code: string): Promise<unknown> {
  const head = `import json\nfrom celery import Celery\napp = Celery(broker=${JSON.stringify(URL_)}, backend=${JSON.stringify(URL_)})\n`;
  const p = spawn(PYTHON, ['-c', head + code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => {
    out += d;
  });
  p.stderr.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) =>
    p.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`python failed: ${err}`)),
    ),
  );
}

describe.skipIf(skip)('interop (redis): Python Celery 5.2 revokes on a Celeriac worker', () => {
  const queue = uniq('rv-py');
  const node = `${uniq('rv')}@test`;
  let worker: Worker | null = null;
  afterAll(async () => {
    await worker?.stop();
    await app.close();
    const raw = rawClient(DB);
    await raw.del(queue, `_kombu.binding.${queue}`);
    raw.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('revoke(terminate=True, signal="SIGKILL") kills the spinning child; REVOKED as Python reads it', async () => {
    worker = app.worker({
      appModule,
      pool: 'prefork',
      concurrency: 1,
      queues: [queue],
      hostname: node,
      mingle: false,
      logger: createLogger('error'),
    });
    await worker.start();
    const marker = join(dir, 'spin');
    const r = await app.sendTask('rv.spin', [marker], {}, { queue });
    await waitUntil(() => existsSync(marker) && readFileSync(marker, 'utf8').length > 0, 20_000, 'the spin');
    const { pid } = JSON.parse(readFileSync(marker, 'utf8')) as { pid: number };

    const out = await py(`
replies = app.control.revoke(${JSON.stringify(r.id)}, terminate=True, signal='SIGKILL', reply=True, destination=[${JSON.stringify(node)}], timeout=5)
res = app.AsyncResult(${JSON.stringify(r.id)})
res.get(timeout=20, propagate=False)
revoked = app.control.inspect([${JSON.stringify(node)}], timeout=5).revoked()
print(json.dumps({'replies': replies, 'state': res.state, 'result': repr(res.result), 'revoked': revoked}))
`);
    expect(out).toEqual({
      replies: [{ [node]: { ok: `terminate: ${r.id}` } }],
      state: 'REVOKED',
      result: "TaskRevokedError('terminated')",
      revoked: { [node]: [r.id] },
    });
    await waitUntil(
      () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      10_000,
      'the child to die',
    );
    const next = await app.sendTask('rv.where', [], {}, { queue });
    expect(((await next.get({ timeout: 20 })) as { pid: number }).pid).not.toBe(pid);
  });
});
