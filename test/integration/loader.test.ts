/**
 * `-A` loads an app module the same way in every kind of project, from a checkout's CLI (the sources):
 * TypeScript under "type": "commonjs" (npm's default), "type": "module" and no package.json, .mts, and
 * plain .js/.mjs/.cjs; `-A ./tasks` finds tasks.ts. A module whose app has another name, and one with a
 * syntax error, get errors a person can act on. The apps import `celeriac`, which the checkout's CLI maps
 * to its own sources. `call` on memory:// loads the app and publishes, which is all a load needs.
 * CommonJS apps (`require('celeriac')`) need the package installed: readme-project.test.ts runs one.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { maskUrl } from '../../src/cli/banner.js';

const bin = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'celeriac-loader-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TS_APP = `import { Celeriac } from 'celeriac';
export const app = new Celeriac();
export const add = app.task('tasks.add', (x: number, y: number): number => x + y, { params: ['x', 'y'] });
`;
const ESM_JS_APP = `import { Celeriac } from 'celeriac';
export const app = new Celeriac();
app.task('tasks.add', (x, y) => x + y, { params: ['x', 'y'] });
`;

/** A project directory with these files; `type` undefined means no package.json at all. */
function project(
  name: string,
  type: 'commonjs' | 'module' | undefined,
  files: Record<string, string>,
): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  if (type) writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type }));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

function run(cwd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, CELERIAC_CLI: 'src' };
  delete env.CELERIAC_BROKER_URL;
  delete env.CELERIAC_RESULT_BACKEND;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const call = (cwd: string, app: string) =>
  run(cwd, ['call', '-A', app, '-b', 'memory://', 'tasks.add', '--args', '[2, 3]']);
const UUID = /^[0-9a-f-]{36}\n$/;

describe('loading the app module', () => {
  const cases: Array<[string, 'commonjs' | 'module' | undefined, string, string]> = [
    ['ts-commonjs', 'commonjs', 'tasks.ts', TS_APP],
    ['ts-module', 'module', 'tasks.ts', TS_APP],
    ['ts-no-package-json', undefined, 'tasks.ts', TS_APP],
    ['mts-commonjs', 'commonjs', 'tasks.mts', TS_APP],
    ['js-module', 'module', 'tasks.js', ESM_JS_APP],
    ['mjs-commonjs', 'commonjs', 'tasks.mjs', ESM_JS_APP],
  ];
  it.each(cases)(
    '%s (type %s): -A ./%s loads and publishes',
    async (name, type, file, text) => {
      const dir = project(name, type, { [file]: text });
      const r = await call(dir, `./${file}`);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(UUID);
      expect(r.code).toBe(0);
    },
    60_000,
  );

  it('-A ./tasks (no extension) finds tasks.ts', async () => {
    const dir = project('no-ext', 'commonjs', { 'tasks.ts': TS_APP });
    const r = await call(dir, './tasks');
    expect(r.stdout).toMatch(UUID);
    const missing = await call(dir, './nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Cannot load the app: no file "./nope"');
    expect(missing.stderr).toContain('also tried .ts, .mts, .cts, .js, .mjs, .cjs');
  }, 60_000);

  it('an app exported under another name: the error names the exports and the fix', async () => {
    const dir = project('other-name', 'module', {
      'tasks.ts': TS_APP.replace('export const app', 'export const celery').replace(
        'app.task',
        'celery.task',
      ),
    });
    const r = await call(dir, './tasks.ts');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'Module "./tasks.ts" exports no Celeriac app as `app` or `default`: it exports add, celery (a Celeriac app); rename it, or add `export { celery as app }`',
    );
    expect(r.stderr).not.toContain('    at ');
  }, 60_000);

  it('a syntax error: file, line, column and message, no loader stack', async () => {
    const broken = TS_APP.replace('x + y,', 'x + ,');
    for (const [name, file, text] of [
      ['syntax-ts', 'tasks.ts', broken],
      ['syntax-mjs', 'tasks.mjs', ESM_JS_APP.replace('x + y', 'x + ')],
    ] as const) {
      const dir = project(name, 'commonjs', { [file]: text });
      const r = await call(dir, `./${file}`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^Error: Cannot load the app: syntax error in ${file}:3:\\d+: `));
      expect(r.stderr).not.toContain('    at ');
    }
  }, 60_000);

  it('the worker banner lists the tasks, the masked broker, the pool and queues', async () => {
    expect(maskUrl('redis://:s3cret@localhost:6379/0')).toBe('redis://:**@localhost:6379/0');
    expect(maskUrl('amqp://guest:guest@localhost:5672//')).toBe('amqp://guest:**@localhost:5672//');
    expect(maskUrl('sqlite://./celeriac.db')).toBe('sqlite://./celeriac.db');
    const dir = project('banner', 'commonjs', { 'tasks.ts': TS_APP });
    const env: NodeJS.ProcessEnv = { ...process.env, CELERIAC_CLI: 'src' };
    delete env.CELERIAC_RESULT_BACKEND;
    for (const level of ['error', 'warn', 'info']) {
      const p = spawn(
        process.execPath,
        [bin, 'worker', '-A', './tasks', '-l', level, '-Q', 'a,b', '-b', 'memory://'],
        { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      await new Promise<void>((resolve, reject) => {
        p.stderr.on('data', (d) => {
          err += d;
          if (/^celeriac \S+ ready: /m.test(err)) resolve();
        });
        p.on('exit', (code) => reject(new Error(`worker exited (${code}): ${err}`)));
      });
      p.kill('SIGTERM');
      const banner = /^celeriac v[\s\S]*?^celeriac \S+ ready: .*$/m.exec(err)?.[0];
      expect(banner).toMatch(
        /^celeriac v\S+ celeriac@\S+\n\[config\]\n {2}\.> app: {9}\.\/tasks\n {2}\.> transport: {3}memory:\/\/\n {2}\.> results: {5}memory:\/\/ \(the broker's store\)\n {2}\.> pool: {8}async \(concurrency 100\)\n {2}\.> queues: {6}a, b\n\[tasks\]\n {2}\. tasks\.add\nceleriac celeriac@\S+ ready: pool=async concurrency=100 queues=a,b$/,
      );
    }
  }, 90_000);
});
