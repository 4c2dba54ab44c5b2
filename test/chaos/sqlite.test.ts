/**
 * SQLite under faults (issue 17): kill -9 of a worker during its batched writes (acks and results), a
 * full disk (a 1 MB tmpfs), a file locked by another process and a read-only file system. Each must end in
 * a clear error where there is one, lose nothing that was accepted, and leave a database that passes
 * `PRAGMA integrity_check`. The tmpfs cases need mount(8) (root); they are reported as skipped without it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Celeriac } from '../../src/index.js';
import { uniq } from '../helpers/services.js';
import { ChaosWorker, drained, publish, sleep, Tally, timeUntil } from './harness.js';
import { type ChaosRow, record, sized } from './report.js';

const rows: ChaosRow[] = [];
afterAll(() => record('sqlite', rows));

function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** A small tmpfs of our own, or null when this process may not mount. */
function tmpfs(sizeKb: number): { dir: string; readOnly(ro: boolean): void; dispose(): void } | null {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return {
    dir,
    readOnly: (ro) => execFileSync('mount', ['-o', `remount,${ro ? 'ro' : 'rw'}`, dir], { stdio: 'ignore' }),
    dispose: () => {
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
      } catch {
        // still busy: leave it to the OS
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('SQLite faults', () => {
  it('kill -9 during batched writes (acks and results): integrity ok, nothing lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-chaos-'));
    const path = join(dir, 'b.db');
    const url = `sqlite://${path}?visibility_timeout=3`;
    const tally = new Tally();
    const queue = uniq('batch');
    const sent = sized(1000, 5000);
    const kills = sized(3, 8);
    const spec = {
      broker: url,
      results: url,
      queue,
      prefix: tally.prefix,
      concurrency: 50,
      prefetchMultiplier: 2,
    };
    const workers: ChaosWorker[] = [];
    try {
      await publish(url, queue, sent, 0);
      for (let k = 0; k < kills; k++) {
        const w = new ChaosWorker(spec);
        workers.push(w);
        await w.ready();
        const before = await tally.completions();
        await timeUntil(async () => (await tally.completions()) > before + 50, 30_000);
        await w.kill9();
      }
      const last = new ChaosWorker(spec);
      workers.push(last);
      const ok = await drained(tally, sent, 120_000);
      await last.stop();
      const { lost, duplicated } = await tally.outcome(sent);
      const check = integrity(path);
      rows.push({
        broker: 'sqlite',
        case: `kill -9 ×${kills} during batched acks + result writes (50 at once)`,
        sent,
        lost,
        duplicated,
        notes: `PRAGMA integrity_check: ${check}`,
      });
      expect(ok).toBe(true);
      expect(lost).toBe(0);
      expect(duplicated).toBeLessThanOrEqual(kills * 100); // the prefetch window (50 × 2) per kill
      expect(check).toBe('ok');
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await tally.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);

  it('a full disk: publishing fails with a clear error; what was accepted runs once space is back', async (ctx) => {
    const fs = tmpfs(1024);
    if (!fs) {
      rows.push({
        broker: 'sqlite',
        case: 'full disk (tmpfs)',
        sent: 0,
        lost: 0,
        duplicated: 0,
        notes: 'skipped: cannot mount a tmpfs here',
      });
      ctx.skip();
      return;
    }
    const path = join(fs.dir, 'full.db');
    const url = `sqlite://${path}?visibility_timeout=3`;
    const tally = new Tally();
    const queue = uniq('full');
    const app = new Celeriac({ broker: url, taskIgnoreResult: true });
    let accepted = 0;
    let error = '';
    try {
      // Leave ~300 KB, then publish 4 KB tasks until the disk is full.
      writeFileSync(join(fs.dir, 'filler'), Buffer.alloc(700 * 1024));
      const pad = 'x'.repeat(4000);
      for (let i = 0; i < 1000; i++) {
        try {
          await app.sendTask('chaos.work', [i, 0, pad], {}, { queue });
          accepted++;
        } catch (err) {
          error = (err as Error).message;
          break;
        }
      }
      await app.close();
      expect(error).toMatch(/full/i);
      rmSync(join(fs.dir, 'filler'));
      const check = integrity(path);
      const w = new ChaosWorker({ broker: url, queue, prefix: tally.prefix });
      const ok = await drained(tally, accepted, 60_000);
      await w.stop();
      const { lost, duplicated } = await tally.outcome(accepted);
      rows.push({
        broker: 'sqlite',
        case: 'full disk (1 MB tmpfs) while publishing',
        sent: accepted,
        lost,
        duplicated,
        notes: `the publish that hit it failed with "${error.slice(0, 80)}"; integrity_check: ${check}`,
      });
      expect(check).toBe('ok');
      expect(ok).toBe(true);
      expect(lost).toBe(0);
    } finally {
      await app.close();
      await tally.dispose();
      fs.dispose();
    }
  }, 300_000);

  it('a file locked by another process, then a read-only file system: clear errors, nothing lost', async (ctx) => {
    const fs = tmpfs(8 * 1024);
    if (!fs) {
      rows.push({
        broker: 'sqlite',
        case: 'locked / read-only file',
        sent: 0,
        lost: 0,
        duplicated: 0,
        notes: 'skipped: cannot mount a tmpfs here',
      });
      ctx.skip();
      return;
    }
    const path = join(fs.dir, 'lock.db');
    const url = `sqlite://${path}?visibility_timeout=3`;
    const tally = new Tally();
    const queue = uniq('lock');
    const sent = sized(100, 500);
    try {
      await publish(url, queue, sent / 2, 10);
      // Another process holds the write lock for 2 s (under busy_timeout, 5 s): publishes and the worker
      // wait it out.
      const holder = new Database(path);
      holder.exec('BEGIN EXCLUSIVE');
      const release = sleep(2000).then(() => {
        holder.exec('COMMIT');
        holder.close();
      });
      const w = new ChaosWorker({ broker: url, queue, prefix: tally.prefix });
      await publish(url, queue, sent / 2, 10, sent / 2);
      await release;
      const ok = await drained(tally, sent, 60_000);
      await w.stop();
      const { lost, duplicated } = await tally.outcome(sent);
      rows.push({
        broker: 'sqlite',
        case: 'file locked by another process for 2 s (busy_timeout 5 s)',
        sent,
        lost,
        duplicated,
        notes: `integrity_check: ${integrity(path)}`,
      });
      expect(ok).toBe(true);
      expect(lost).toBe(0);

      // Read-only: a worker cannot start on it, and says why.
      fs.readOnly(true);
      const ro = new ChaosWorker({ broker: url, queue, prefix: tally.prefix });
      const code = await Promise.race([ro.exited, sleep(30_000).then(() => 'running')]);
      await ro.kill9();
      fs.readOnly(false);
      const said = /cannot start the worker: (.*)/.exec(ro.output)?.[1] ?? ro.output.slice(-200);
      const check = integrity(path);
      rows.push({
        broker: 'sqlite',
        case: 'read-only file system at worker start',
        sent: 0,
        lost: 0,
        duplicated: 0,
        notes: `exit ${String(code)}: "${said.slice(0, 120)}"; integrity_check: ${check}`,
      });
      expect(code).toBe(1);
      expect(said).toMatch(/read-only|readonly/i);
      expect(check).toBe('ok');
    } finally {
      await tally.dispose();
      fs.dispose();
    }
  }, 300_000);
});
