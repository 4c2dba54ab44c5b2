// bin/celeriac.js picks the compiled CLI or the sources: a checkout (src/ present) runs the sources even
// beside a build, an installed package (no src/) runs dist/, and CELERIAC_CLI forces either. Run on a
// scratch copy of the layout whose two entry points only print which one ran.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
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
  it('a checkout runs the sources, even beside a fresh build', () => {
    expect(run()).toMatchObject({ code: 0, out: 'src', err: '' });
  });

  it('CELERIAC_CLI forces either, and a missing one is an error, not a silent fallback', () => {
    expect(run({ CELERIAC_CLI: 'dist' })).toMatchObject({ code: 0, out: 'dist', err: '' });
    expect(run({ CELERIAC_CLI: 'src' })).toMatchObject({ code: 0, out: 'src', err: '' });
    expect(run({ CELERIAC_CLI: 'built' }).err).toContain('must be "dist" or "src"');
    renameSync(join(dir, 'dist'), join(dir, 'dist.away'));
    const r = run({ CELERIAC_CLI: 'dist' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('npm run build');
    renameSync(join(dir, 'dist.away'), join(dir, 'dist'));
  });

  it('an installed package (no src/) runs dist/', () => {
    renameSync(join(dir, 'src'), join(dir, 'src.away'));
    try {
      expect(run()).toMatchObject({ code: 0, out: 'dist', err: '' });
      expect(run({ CELERIAC_CLI: 'src' }).err).toContain('CELERIAC_CLI=src but');
    } finally {
      renameSync(join(dir, 'src.away'), join(dir, 'src'));
    }
  });
});
