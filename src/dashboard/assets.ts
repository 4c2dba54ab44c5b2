/**
 * Where the built page is (scripts/build-dashboard.ts writes it): a folder holding index.html, one
 * hashed JS and one hashed CSS file, and build.json, written last, which marks the build complete.
 *  - From the installed package (dist/dashboard/assets.js): the `web/` folder beside this file.
 *  - From the sources (tsx, the tests: src/dashboard/assets.ts): dist/dashboard/web under the package
 *    root, where `npm run build` and the tests' global set-up put it. `src/dashboard/web/` beside this
 *    file is the page's source, not a build: its index.html is a template, so build.json decides.
 * Null when neither is there: the server then answers `/` with a note to run `npm run build`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILT = 'build.json';

export function assetDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'web'), join(here, '..', '..', 'dist', 'dashboard', 'web')];
  for (const dir of candidates)
    if (existsSync(join(dir, BUILT)) && existsSync(join(dir, 'index.html'))) return dir;
  return null;
}
