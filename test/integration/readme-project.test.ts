/**
 * The README's "Use it in your project", done as a new user does it: `npm pack` this checkout, then in a
 * fresh directory `npm init -y`, the README's `npm install`, the README's tasks file as printed (read from
 * README.md, so this test breaks when the README drifts), the README's worker, `call` and `result`
 * commands, and the printed 5. Three kinds of project: npm's default (CommonJS) with tasks.ts, an ES
 * module project with tasks.ts, and plain JavaScript with the README's tasks.js (which `require`s
 * celeriac). Also: the tarball holds dist/, the types, the bin and the README; an installed package
 * runs its dist/ (no src/), and `import`/`require('celeriac')` work.
 *
 * The dependencies come from the npm registry (or npm's cache: --prefer-offline). One exception, so the
 * test takes seconds rather than minutes and needs no GitHub: better-sqlite3 downloads its compiled
 * driver from GitHub releases at install, and otherwise compiles it for minutes. The checkout's own
 * compiled driver (same version, same Node) is put where that download would land, in npm's cache
 * (`_prebuilds/`, prebuild-install's own cache), so its install script finds it there.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const exec = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'celeriac-readme-'));
const workers: ChildProcess[] = [];

/** The process environment of a user's shell: nothing of this test run's Celeriac settings. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' };
  for (const k of Object.keys(env)) if (k.startsWith('CELERIAC_') || k.startsWith('VITEST')) delete env[k];
  delete env.NODE_OPTIONS;
  return env;
}

async function sh(cwd: string, cmd: string, args: string[], timeout = 120_000): Promise<string> {
  const { stdout } = await exec(cmd, args, { cwd, env: userEnv(), timeout, maxBuffer: 16 << 20 });
  return stdout;
}

/** The README's "Use it in your project" section. */
function section(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Use it in your project');
  const end = readme.indexOf('\n## ', start + 1);
  if (start < 0) throw new Error('README.md has no "## Use it in your project" section');
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The fenced block of the section whose first line is `// <file>`. */
function fileBlock(file: string): string {
  for (const m of section().matchAll(/```(?:ts|js)\n([\s\S]*?)```/g)) {
    if (m[1]!.startsWith(`// ${file}\n`)) return m[1]!;
  }
  throw new Error(`README.md's "Use it in your project" has no block starting with // ${file}`);
}

/** The section's shell commands, comments cut off: the install line and the npx lines. */
function commands(): string[] {
  const out: string[] = [];
  for (const m of section().matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of m[1]!.split('\n')) {
      const cmd = line.replace(/\s+#.*$/, '').trim();
      if (cmd) out.push(cmd);
    }
  }
  return out;
}

/** `npx celeriac …` from the README as argv (single-quoted words kept whole). */
function argv(cmd: string): string[] {
  return [...cmd.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** Put the checkout's compiled better-sqlite3 where prebuild-install looks before downloading it. */
async function seedSqliteDriver(): Promise<void> {
  const dir = join(ROOT, 'node_modules/better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  const binary = join(dir, 'build/Release/better_sqlite3.node');
  if (!existsSync(binary)) return; // nothing to seed: the install compiles it
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const url = `https://github.com/WiseLibs/better-sqlite3/releases/download/v${version}/${name}`;
  const cache = (await sh(work, 'npm', ['config', 'get', 'cache'])).trim();
  const target = join(
    cache,
    '_prebuilds',
    `${createHash('sha512').update(url).digest('hex').slice(0, 6)}-${name}`,
  );
  if (existsSync(target)) return;
  const stage = join(work, 'prebuild');
  mkdirSync(join(stage, 'build/Release'), { recursive: true });
  writeFileSync(join(stage, 'build/Release/better_sqlite3.node'), readFileSync(binary));
  mkdirSync(join(cache, '_prebuilds'), { recursive: true });
  await sh(stage, 'tar', ['czf', target, 'build']);
}

let tarball = '';

beforeAll(async () => {
  // npm pack runs `prepare` (the build), as a publish or a git install would.
  const packed = await sh(ROOT, 'npm', ['pack', '--silent', '--pack-destination', work], 180_000);
  tarball = join(work, packed.trim().split('\n').at(-1)!);
  await seedSqliteDriver();
}, 240_000);

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.pid) process.kill(-w.pid, 'SIGTERM');
  await Promise.all(
    workers.map((w) => new Promise((r) => (w.exitCode === null ? w.once('exit', r) : r(null)))),
  );
  rmSync(work, { recursive: true, force: true });
});

/** A fresh project: `npm init -y`, then the README's install line with the path of this tarball. */
async function newProject(
  name: string,
  setup: (dir: string) => Promise<void> = async () => {},
): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  await sh(dir, 'npm', ['init', '-y']);
  await setup(dir);
  const install = commands().find((c) => c.startsWith('npm install '));
  if (!install) throw new Error('README.md shows no npm install command');
  const args = argv(install)
    .slice(2)
    .map((a) => (a.endsWith('.tgz') ? tarball : a));
  await sh(dir, 'npm', ['install', '--prefer-offline', ...args], 180_000);
  return dir;
}

/** Start the README's worker command (its -A file swapped for `file`), wait for the ready line. */
async function startWorker(dir: string, file: string): Promise<{ banner: () => string }> {
  const cmd = commands().find((c) => c.startsWith('npx celeriac worker'));
  if (!cmd) throw new Error('README.md shows no npx celeriac worker command');
  const args = argv(cmd).map((a) => (a === './tasks.ts' ? `./${file}` : a));
  // Its own process group: npx runs node under it, and the test stops both at the end.
  const p = spawn(args[0]!, args.slice(1), {
    cwd: dir,
    env: userEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  workers.push(p);
  let err = '';
  p.stdout.on('data', (d) => {
    err += d;
  });
  await new Promise<void>((resolve, reject) => {
    p.stderr.on('data', (d) => {
      err += d;
      if (/^celeriac \S+ ready: /m.test(err)) resolve();
    });
    p.once('exit', (code) => reject(new Error(`the worker exited (${code}) before it was ready:\n${err}`)));
  });
  return { banner: () => err };
}

/** The README's call and result commands; returns what `result` printed. */
async function callAndResult(dir: string): Promise<string> {
  const call = commands().find((c) => c.startsWith('npx celeriac call'));
  const result = commands().find((c) => c.startsWith('npx celeriac result'));
  if (!call || !result) throw new Error('README.md shows no npx celeriac call / result command');
  const [npx, ...callArgs] = argv(call);
  const id = (await sh(dir, npx!, callArgs)).trim();
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  const [, ...resultArgs] = argv(result).map((a) => (a === '<id>' ? id : a));
  return (await sh(dir, npx!, [...resultArgs, '--timeout', '30'])).trim();
}

// The three projects install and run side by side (each in its own directory, on its own SQLite file).
describe('the README, in a new project', () => {
  it('npm pack: dist/ with types, the bin, the CommonJS entry and the README; no sources', async () => {
    const list = await sh(work, 'tar', ['tzf', tarball]);
    for (const f of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'bin/celeriac.js',
      'cjs/celeriac.cjs',
      'README.md',
    ])
      expect(list).toContain(`package/${f}`);
    expect(list).not.toMatch(/package\/src\//);
    expect(list).not.toMatch(/\.js\.map/);
  });

  it.concurrent("npm's default project (CommonJS): tasks.ts, worker, call, result prints 5; require works", async () => {
    const dir = await newProject('commonjs');
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type ?? 'commonjs').toBe('commonjs');
    writeFileSync(join(dir, 'tasks.ts'), fileBlock('tasks.ts'));
    const w = await startWorker(dir, 'tasks.ts');
    expect(w.banner()).toMatch(/\[tasks\]\n {2}\. tasks\.add\n/);
    expect(await callAndResult(dir)).toBe('5');
    expect((await sh(dir, 'node', ['-e', "console.log(typeof require('celeriac').Celeriac)"])).trim()).toBe(
      'function',
    );
  }, 240_000);

  it.concurrent('an ES module project: tasks.ts, worker, call, result prints 5; import works', async () => {
    const dir = await newProject('module', (d) => sh(d, 'npm', ['pkg', 'set', 'type=module']).then(() => {}));
    writeFileSync(join(dir, 'tasks.ts'), fileBlock('tasks.ts'));
    await startWorker(dir, 'tasks.ts');
    expect(await callAndResult(dir)).toBe('5');
    const probe = "import('celeriac').then((m) => console.log(typeof m.Celeriac, typeof m.chain))";
    expect((await sh(dir, 'node', ['-e', probe])).trim()).toBe('function function');
  }, 240_000);

  it.concurrent("plain JavaScript: the README's tasks.js, worker, call, result prints 5", async () => {
    const dir = await newProject('javascript');
    writeFileSync(join(dir, 'tasks.js'), fileBlock('tasks.js'));
    await startWorker(dir, 'tasks.js');
    expect(await callAndResult(dir)).toBe('5');
  }, 240_000);
});
