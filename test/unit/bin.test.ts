// bin/celeriac.js picks the compiled CLI or the sources: a dist/ older than src/ must never run in their
// place, and CELERIAC_CLI forces either. Run on a scratch copy of the layout whose two entry points
// only print which one ran.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
let dir = '';

function run(env: Record<string, string> = {}) {
  const base = { ...process.env };
  delete base.CELERIAC_CLI; // vitest sets it for every test (vitest.config.ts)
  const r = spawnSync(process.execPath, [join(dir, 'bin/celeriac.js')], {
    env: { ...base, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

/** Set the mtime of the fake dist entry relative to the sources (seconds). */
function distAge(offsetS: number): void {
  const t = Date.now() / 1000;
  utimesSync(join(dir, 'src/cli/main.ts'), t, t);
  utimesSync(join(dir, 'dist/cli/main.js'), t + offsetS, t + offsetS);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-bin-'));
  for (const d of ['bin', 'src/cli', 'dist/cli']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(join(ROOT, 'bin/celeriac.js'), join(dir, 'bin/celeriac.js'));
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'src/cli/main.ts'), "const from: string = 'src';\nconsole.log(from);\n");
  writeFileSync(join(dir, 'dist/cli/main.js'), "console.log('dist');\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bin/celeriac.js', () => {
  it('runs dist/ when it is newer than every source file', () => {
    distAge(10);
    expect(run()).toMatchObject({ code: 0, out: 'dist', err: '' });
  });

  it('runs the sources, saying why, when dist/ is older than a source file', () => {
    distAge(-10);
    const r = run();
    expect(r).toMatchObject({ code: 0, out: 'src' });
    expect(r.err).toContain('dist/ is older than src/');
  });

  it('CELERIAC_CLI forces either, and a missing dist/ is an error, not a silent fallback', () => {
    distAge(10);
    expect(run({ CELERIAC_CLI: 'src' })).toMatchObject({ code: 0, out: 'src', err: '' });
    distAge(-10);
    expect(run({ CELERIAC_CLI: 'dist' })).toMatchObject({ code: 0, out: 'dist' });
    expect(run({ CELERIAC_CLI: 'built' }).err).toContain('must be "dist" or "src"');
    rmSync(join(dir, 'dist'), { recursive: true });
    const r = run({ CELERIAC_CLI: 'dist' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('run npm run build');
    expect(run()).toMatchObject({ code: 0, out: 'src', err: '' });
  });
});
