/**
 * Module hooks that make an app module load the same way in every project: TypeScript through tsx, as
 * an ES module, and against one copy of Celeriac. Registered once per process (worker, CLI, pool child),
 * always after tsx, so these hooks see what tsx resolved and can correct two things:
 *
 *  - **The module format of `.ts`/`.tsx` files written with `import`/`export`.** Node gives a `.ts` file
 *    the format of its package (`"type": "commonjs"`, npm's default, or no package.json at all), and
 *    Node 20 then refuses ESM syntax in it, or re-enters it through require(esm) and fails with
 *    ERR_REQUIRE_CYCLE_MODULE. A file that uses `import`/`export` is an ES module whatever the package
 *    says, as tsc's own `module: preserve` treats it, so these hooks load it as one. Files without that
 *    syntax (CommonJS written in TypeScript), `.cts` and everything under node_modules keep Node's choice;
 *    `.mts` is a module already.
 *  - **Which Celeriac an app imports, from a checkout.** When the CLI runs the sources (bin/celeriac.js
 *    in a clone), an app that imports `celeriac` would otherwise get the compiled dist/ beside the CLI's
 *    src/: two copies of every class, and stack traces that mix src/*.ts with dist/*.js. The hooks map
 *    `celeriac` and `celeriac/testing` to the sources the CLI runs.
 *
 * The hook module is a data: URL so it needs no file of its own in dist/ or src/ and no build step; it
 * reads only what a resolve result names, never evaluates anything.
 */
import { register } from 'node:module';

const HOOKS = `
import { readFileSync } from 'node:fs';
let selfRefs = {};
export function initialize(data) { selfRefs = (data && data.selfRefs) || {}; }
const esmSyntax = /^[ \\t]*(import[ \\t]*[\\w{*'"]|export[ \\t{*]|import[ \\t]*\\()/m;
export async function resolve(specifier, context, next) {
  const mapped = selfRefs[specifier];
  if (mapped) return { url: mapped, format: 'module', shortCircuit: true };
  const r = await next(specifier, context);
  if ((r.format === 'commonjs' || r.format == null) && r.url.startsWith('file:') &&
      /\\.tsx?$/.test(new URL(r.url).pathname) && !r.url.includes('/node_modules/')) {
    let source = '';
    try { source = readFileSync(new URL(r.url), 'utf8'); } catch { return r; }
    if (esmSyntax.test(source)) return { ...r, format: 'module' };
  }
  return r;
}
`;

const REGISTERED = Symbol.for('celeriac.loader.hooks');

/**
 * Register the hooks in this process or thread (once). `selfRefs` maps bare specifiers (`celeriac`,
 * `celeriac/testing`) to the file URLs this process must load for them.
 */
export function registerAppHooks(selfRefs: Record<string, string>): void {
  const g = globalThis as { [REGISTERED]?: boolean };
  if (g[REGISTERED]) return;
  g[REGISTERED] = true;
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { selfRefs } });
}
