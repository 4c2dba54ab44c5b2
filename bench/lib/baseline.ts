/**
 * `--baseline <git-ref>`: the same Celeriac measured from another commit in the same run, so a change can
 * show its rows before and after under the same machine conditions (the system `celeriac-base`).
 *
 * The ref is checked out (detached) as a git worktree in bench/results/tmp/.baseline/<sha12>/ (ignored by
 * git; the leading dot keeps it out of tsconfig.json's `bench` include, whose wildcards skip dot
 * directories), with node_modules (and bench/anchors/node_modules, when present) symlinked to this
 * checkout's, and its own `npm run build` so its dist/ exists. Its worker runs its own bin/celeriac.js on
 * its own bench/celeriac/tasks.mjs, and its driver is its own bench/celeriac/driver.ts, each with cwd in the
 * worktree: `import 'celeriac'` there is the package's self-reference, i.e. the baseline's dist/.
 *
 * A worktree at the same commit is reused, and so is its build (a stamp file records the commit it was
 * built from, and tracked files must be unmodified). `git worktree prune` forgets worktrees whose folder is
 * gone; baseline worktrees unused for BASELINE_KEEP_DAYS are removed.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export interface Baseline {
  /** The ref as given (`main~3`, `fb42c5f`). */
  ref: string;
  sha: string;
  short: string;
  subject: string;
  /** The worktree's root. */
  dir: string;
}

/** Files of the ref the `celeriac-base` system runs; a ref without them cannot be a baseline. */
export const BASELINE_NEEDS = [
  'bin/celeriac.js',
  'tsconfig.build.json',
  'bench/celeriac/tasks.mjs',
  'bench/celeriac/driver.ts',
  'bench/lib/celery-results.ts',
  'bench/anchors/feed.mjs',
];
/** The baseline's client and task code: when they differ from this tree's, the report says so. */
export const BASELINE_HARNESS = ['bench/celeriac', 'bench/lib/celery-results.ts', 'bench/anchors/feed.mjs'];
export const BASELINE_KEEP_DAYS = 7;
const STAMP = '.bench-baseline-built';

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Where the worktrees live: `<root>/bench/results/tmp/.baseline`. */
export const baselineHome = (root: string): string => join(root, 'bench', 'results', 'tmp', '.baseline');

/** Paths of the registered worktrees (`git worktree list --porcelain`). */
function worktrees(root: string): string[] {
  return git(root, 'worktree', 'list', '--porcelain')
    .split('\n')
    .filter((l) => l.startsWith('worktree '))
    .map((l) => l.slice('worktree '.length));
}

function removeWorktree(root: string, dir: string, log: (m: string) => void, why: string): void {
  log(`removing baseline worktree ${dir} (${why})`);
  try {
    git(root, 'worktree', 'remove', '--force', dir);
  } catch {
    rmSync(dir, { recursive: true, force: true });
    git(root, 'worktree', 'prune');
  }
}

/** Symlink `link` to `target`'s real path, unless it already points there. */
function linkTo(link: string, target: string): void {
  const real = realpathSync(target);
  if (existsSync(link)) {
    if (realpathSync(link) === real) return;
    rmSync(link, { recursive: true, force: true });
  }
  symlinkSync(real, link);
}

/**
 * Check out and build `ref` for the `celeriac-base` system; throws with a readable message when the ref is
 * unknown, lacks the bench's Celeriac files, or does not build.
 */
export function prepareBaseline(root: string, ref: string, log: (m: string) => void): Baseline {
  let sha: string;
  try {
    sha = git(root, 'rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`);
  } catch {
    throw new Error(`--baseline ${ref}: not a commit in this repository`);
  }
  const missing = BASELINE_NEEDS.filter((p) => {
    try {
      git(root, 'cat-file', '-e', `${sha}:${p}`);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    throw new Error(
      `--baseline ${ref} (${sha.slice(0, 7)}) has no ${missing.join(', ')}: it cannot run the bench`,
    );
  }
  const short = git(root, 'rev-parse', '--short', sha);
  const subject = git(root, 'log', '-1', '--format=%s', sha);
  const home = baselineHome(root);
  const dir = join(home, sha.slice(0, 12));
  mkdirSync(home, { recursive: true });

  git(root, 'worktree', 'prune');
  const registered = new Set(worktrees(root).map((p) => (existsSync(p) ? realpathSync(p) : p)));
  // Old baselines: removed once unused for a week (the stamp is touched by every run that uses one).
  for (const name of readdirSync(home)) {
    const d = join(home, name);
    if (d === dir) continue;
    const stamp = join(d, STAMP);
    const used = existsSync(stamp) ? statSync(stamp).mtimeMs : statSync(d).mtimeMs;
    if (Date.now() - used > BASELINE_KEEP_DAYS * 86_400_000)
      removeWorktree(root, d, log, 'unused for a week');
  }

  let reuse = false;
  if (existsSync(dir)) {
    const ok =
      registered.has(realpathSync(dir)) &&
      (() => {
        try {
          return git(dir, 'rev-parse', 'HEAD') === sha;
        } catch {
          return false;
        }
      })();
    if (ok) reuse = true;
    else removeWorktree(root, dir, log, 'not a worktree at this commit');
  }
  if (reuse) log(`baseline ${ref} = ${short}: reusing worktree ${dir}`);
  else {
    log(`baseline ${ref} = ${short}: git worktree add --detach ${dir}`);
    git(root, 'worktree', 'add', '--detach', dir, sha);
  }
  // The checkout's dependencies (the baseline is measured on this tree's node_modules, not its lockfile's).
  linkTo(join(dir, 'node_modules'), join(root, 'node_modules'));
  if (existsSync(join(root, 'bench', 'anchors', 'node_modules'))) {
    linkTo(join(dir, 'bench', 'anchors', 'node_modules'), join(root, 'bench', 'anchors', 'node_modules'));
  }

  const stamp = join(dir, STAMP);
  const clean = git(dir, 'status', '--porcelain', '--untracked-files=no') === '';
  const built =
    clean &&
    existsSync(join(dir, 'dist', 'index.js')) &&
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8').trim() === sha;
  if (built) log(`baseline ${short}: dist/ already built from this commit`);
  else {
    log(`baseline ${short}: building dist/ (npm run build in ${dir})`);
    rmSync(join(dir, 'dist'), { recursive: true, force: true });
    rmSync(stamp, { force: true });
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: dir, stdio: 'inherit' });
  }
  writeFileSync(stamp, `${sha}\n`); // also marks it used (see the cleanup above)
  return { ref, sha, short, subject, dir };
}

/** The baseline's client and task files that differ from this working tree's (empty: the same harness). */
export function harnessDiff(root: string, sha: string): string[] {
  const out = git(root, 'diff', '--name-only', sha, '--', ...BASELINE_HARNESS);
  return out ? out.split('\n') : [];
}
