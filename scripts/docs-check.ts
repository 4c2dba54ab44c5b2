/**
 * The docs check: every fenced TypeScript block in README.md and docs/*.md goes through tsc, against the
 * sources (`celeriac` and `celeriac/testing` map to src/), so an example cannot drift from the API it
 * shows. `npm run docs:check` runs it; test/unit/docs-check.test.ts runs it in CI.
 *
 * How a Markdown file becomes a program: the blocks of one file read as one story (the app defined in
 * the first block is used in the next), so they are compiled together as one module, in order.
 *  - Every block's imports are merged at the top of the module.
 *  - A setup block (one that exports, or builds `const app`) is module scope: its declarations are
 *    visible to the blocks after it. A setup block that declares a name again starts a new program.
 *  - Any other block is a scene: it runs in its own `{ … }` scope, so two blocks may both say
 *    `const r = await add.delay(2, 3)`.
 *  - A block whose first line is `// name.ts` (e.g. the README's `// tasks.ts`) is also written as that
 *    file, so a later block may `import { add } from './tasks.js'`.
 *  - A block fenced as ```ts fragment is not compiled: for a signature or pseudo-code that cannot be a
 *    program. Say why in the text around it.
 *  - Names a file uses without defining (usually `app`, `add`) come from a small prelude (below).
 *  - What a block needs but should not show (a helper it calls) goes in an HTML comment on the line
 *    above its fence, which Markdown does not render: `<!-- docs-check: declare function load(): void; -->`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Block {
  file: string;
  line: number;
  info: string;
  code: string;
  /** Hidden context from a `<!-- docs-check: … -->` line just above the fence. */
  context: string;
}

/** The fenced blocks of a Markdown text whose info string starts with ts or typescript. */
export function tsBlocks(markdown: string, file: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(ts|typescript)\b(.*)$/.exec(lines[i]!);
    if (!m) continue;
    const start = i + 1;
    let above = i - 1;
    while (above >= 0 && lines[above]!.trim() === '') above--;
    const context = /^<!-- docs-check: ([\s\S]*?) -->$/.exec(lines[above] ?? '')?.[1] ?? '';
    let end = start;
    while (end < lines.length && !lines[end]!.startsWith('```')) end++;
    out.push({
      file,
      line: start + 1,
      info: m[2]!.trim(),
      code: lines.slice(start, end).join('\n'),
      context,
    });
    i = end;
  }
  return out;
}

/** Names the prelude declares when a file uses them without defining them. */
const PRELUDE: Record<string, string> = {
  app: "const app = new (await import('celeriac')).Celeriac({ broker: 'memory://' });",
  add: "const add = app.task('tasks.add', (x: number, y: number) => x + y, { params: ['x', 'y'] });",
  mul: "const mul = app.task('tasks.mul', (x: number, y: number) => x * y, { params: ['x', 'y'] });",
};

const IMPORT = /^import\s[\s\S]*?from\s+['"][^'"]+['"];?[ \t]*$|^import\s+['"][^'"]+['"];?[ \t]*$/gm;
/** A setup block: it exports, or it builds the app the blocks after it use. */
const TOP_LEVEL = /^export\s|^(export\s+)?const\s+app\s*=/m;

/**
 * Merge `import { a, type B } from 'x'`, `import * as n from 'x'`, `import d from 'x'` into one set of
 * bindings per module, so two blocks importing the same name do not declare it twice.
 */
function addImport(imports: Map<string, Set<string>>, statement: string): void {
  const m = /^import\s+(type\s+)?([\s\S]*?)\s+from\s+['"]([^'"]+)['"]/.exec(statement.trim());
  const from = m?.[3] ?? /['"]([^'"]+)['"]/.exec(statement)?.[1] ?? '';
  const names = imports.get(from) ?? new Set<string>();
  imports.set(from, names);
  if (!m) return; // a side-effect import
  const typeOnly = m[1] ? 'type ' : '';
  let clause = m[2]!.trim();
  const ns = /^\*\s+as\s+(\w+)$/.exec(clause);
  if (ns) {
    names.add(`* as ${ns[1]}`);
    return;
  }
  const def = /^(\w+)\s*(?:,\s*(.*))?$/s.exec(clause);
  if (def && !clause.startsWith('{')) {
    names.add(`default as ${def[1]}`);
    clause = def[2] ?? '';
  }
  for (const n of clause.replace(/[{}]/g, '').split(',')) {
    const t = n.trim();
    if (t) names.add(`${typeOnly}${t}`);
  }
}

function importLine(from: string, names: Set<string>): string {
  const ns = [...names].filter((n) => n.startsWith('* as '));
  const rest = [...names].filter((n) => !n.startsWith('* as '));
  // A value import wins over a type-only one of the same name.
  const values = new Set(rest.filter((n) => !n.startsWith('type ')));
  const list = rest.filter((n) => !n.startsWith('type ') || !values.has(n.slice(5)));
  const lines = ns.map((n) => `import ${n} from '${from}';`);
  if (list.length || !ns.length) lines.push(`import { ${[...new Set(list)].join(', ')} } from '${from}';`);
  return lines.join('\n');
}

const DECLS = /^(?:export\s+)?(?:const|let|var|function|class|async\s+function)\s+(\w+)/gm;

/**
 * A file's blocks as stories: a new one starts where a module-scope block declares again a name that
 * an earlier one declared (a second, independent example: `const app = …` once more).
 */
export function stories(blocks: Block[]): Block[][] {
  const out: Block[][] = [[]];
  let names = new Set<string>();
  for (const b of blocks) {
    const declared = TOP_LEVEL.test(b.code) ? [...b.code.matchAll(DECLS)].map((m) => m[1]!) : [];
    if (declared.some((n) => names.has(n))) {
      out.push([]);
      names = new Set();
    }
    for (const n of declared) names.add(n);
    out.at(-1)!.push(b);
  }
  return out.filter((s) => s.length > 0);
}

/** One module from a file's blocks (the rules in the header), with a map back to Markdown lines. */
export function programFor(blocks: Block[]): {
  source: string;
  lines: Array<[number, Block]>;
  files: Record<string, { code: string; block: Block }>;
} {
  const imports = new Map<string, Set<string>>();
  const body: Array<{ text: string; context: string; block: Block; scope: boolean }> = [];
  const files: Record<string, { code: string; block: Block }> = {};
  for (const b of blocks) {
    if (b.info.split(/\s+/).includes('fragment')) continue;
    const named = /^\/\/\s*([\w.-]+\.(?:ts|mts))\s*$/.exec(b.code.split('\n')[0] ?? '');
    if (named) {
      // Its own file, as the reader would save it; the blocks after it import from it.
      files[named[1]!] = { code: b.code, block: b };
      continue;
    }
    const moduleScope = TOP_LEVEL.test(b.code);
    // Keep line numbers: an import becomes a blank line where it stood; the hidden context goes on the
    // fence's line, before the block's first.
    const text = b.code.replace(IMPORT, (s) => {
      addImport(imports, s);
      return s.replace(/[^\n]/g, '');
    });
    body.push({ text, context: b.context, block: b, scope: !moduleScope });
  }
  const all = body.map((p) => p.text).join('\n');
  const importedNames = [...imports.values()].flatMap((n) => [...n].map((x) => x.split(/\s+/).at(-1)));
  const declared = (name: string) =>
    importedNames.includes(name) ||
    new RegExp(`(const|let|var|function|class)\\s+${name}\\b|[{,]\\s*${name}\\s*[,}]\\s*=`).test(all);
  const prelude = Object.entries(PRELUDE)
    // A use is the name itself, not a property or a task name that ends in it (`'tasks.add'`).
    .filter(([name]) => !declared(name) && new RegExp(`(?<![.\\w$])${name}\\b`).test(all))
    .map(([, decl]) => decl);
  const head = [...imports].map(([from, names]) => importLine(from, names));
  const out: string[] = [...head, ...prelude].join('\n').split('\n');
  const lines: Array<[number, Block]> = [];
  for (const p of body) {
    // The hidden context stands at module level (a `declare` cannot go in a block), on the fence's line.
    lines[out.length + 1] = [p.block.line - 1, p.block];
    out.push(`${p.context} ${p.scope ? '{' : ''}`);
    const first = out.length + 1; // tsc's lines are 1-based
    const text = p.text.split('\n');
    for (const [i] of text.entries()) lines[first + i] = [p.block.line + i, p.block];
    out.push(...text, p.scope ? '}' : '');
  }
  out.push('export {};');
  return { source: out.join('\n'), lines, files };
}

/** README.md and docs/*.md, as [path, text]. */
export function markdownFiles(): Array<[string, string]> {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  return ['README.md', ...docs].map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]);
}

/** Compile every file's programs; returns tsc's complaints, pointed at Markdown lines. */
export async function checkDocs(markdown: Array<[string, string]> = markdownFiles()): Promise<string[]> {
  // Inside the checkout, so the blocks' other imports (vitest, node types) resolve from its node_modules.
  const dir = mkdtempSync(join(ROOT, '.docs-check-'));
  try {
    const maps = new Map<string, Array<[number, Block]>>();
    const include: string[] = [];
    for (const [md, text] of markdown) {
      const blocks = tsBlocks(text, md);
      if (blocks.length === 0) continue;
      const sub = join(dir, md.replace(/[/.]/g, '_'));
      mkdirSync(sub, { recursive: true });
      // One directory per story, so two stories may each have their own tasks.ts.
      for (const [n, story] of stories(blocks).entries()) {
        const { source, lines, files } = programFor(story);
        const at = join(sub, `s${n}`);
        mkdirSync(at);
        for (const [name, { code, block }] of Object.entries(files)) {
          writeFileSync(join(at, name), code);
          const fileLines: Array<[number, Block]> = code.split('\n').map((_, k) => [block.line + k, block]);
          maps.set(join(basename(sub), `s${n}`, name), fileLines);
        }
        writeFileSync(join(at, 'doc.ts'), source);
        maps.set(join(basename(sub), `s${n}`, 'doc.ts'), lines);
      }
      include.push(`${basename(sub)}/*/*.ts`);
    }
    writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          noEmit: true,
          baseUrl: dir,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
          noUnusedLocals: false,
          paths: {
            celeriac: [join(ROOT, 'src/index.ts')],
            'celeriac/testing': [join(ROOT, 'src/testing/index.ts')],
          },
        },
        include,
      }),
    );
    let output = '';
    try {
      // Asynchronously: tsc takes a while over src/, and the caller's event loop (vitest's) must go on.
      await promisify(execFile)(
        process.execPath,
        [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir, '--pretty', 'false'],
        { encoding: 'utf8', maxBuffer: 16 << 20 },
      );
    } catch (err) {
      output = (err as { stdout?: string }).stdout ?? String(err);
    }
    const problems: string[] = [];
    for (const line of output.split('\n').filter((l) => /^\S/.test(l))) {
      const m = /^(.+?\.ts)\((\d+),(\d+)\): (.*)$/.exec(line);
      if (!m) {
        problems.push(line);
        continue;
      }
      const rel = m[1]!.split('/').slice(-3).join('/');
      // A named file's map is 0-based (line 1 is its first); doc.ts's is indexed by tsc's line.
      const map = maps.get(rel);
      const at = rel.endsWith('/doc.ts') ? map?.[Number(m[2])] : map?.[Number(m[2]) - 1];
      problems.push(at ? `${at[1].file}:${at[0]}: ${m[4]}` : `${rel}:${m[2]} (prelude): ${m[4]}`);
    }
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = await checkDocs();
  for (const p of problems) console.error(p);
  console.error(
    problems.length
      ? `docs check: ${problems.length} problem(s)`
      : 'docs check: every TypeScript block compiles',
  );
  process.exit(problems.length ? 1 : 0);
}
