/**
 * Where the built page is (placeholder until dash-web's build lands): dist/dashboard/web beside the
 * package root, or null when `npm run build` has not produced it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function assetDir(): string | null {
  // src/dashboard/assets.ts and dist/dashboard/assets.js both sit two levels under the package root.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = join(root, 'dist', 'dashboard', 'web');
  return existsSync(join(dir, 'index.html')) ? dir : null;
}
