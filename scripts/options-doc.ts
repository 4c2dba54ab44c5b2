/**
 * Generates docs/options.md from the typed defaults in src/app/config.ts: every setting, its default and
 * its TSDoc. `npm run docs:options` writes the file; test/unit/options-doc.test.ts fails when it is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { settingDefaults } from '../src/app/config.js';

const root = new URL('..', import.meta.url);
const configPath = fileURLToPath(new URL('src/app/config.ts', root));
export const optionsDocPath = fileURLToPath(new URL('docs/options.md', root));

const camelToSnake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function renderOptionsDoc(): string {
  const source = readFileSync(configPath, 'utf8');
  const rows: string[] = [];
  for (const key of Object.keys(settingDefaults)) {
    const re = new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*\\n\\s*${key}:`);
    const doc = re.exec(source)?.[1] ?? '';
    const lines = doc
      .split('\n')
      .map((l) => l.replace(/^\s*\*\s?/, '').trim())
      .filter(Boolean)
      .join(' ');
    const declared = /@defaultValue\s+(.*)$/.exec(lines)?.[1];
    const text = lines
      .replace(/@defaultValue.*$/, '')
      .trim()
      .replace(/\|/g, '\\|');
    const value = (settingDefaults as Record<string, unknown>)[key];
    const def = declared ?? JSON.stringify(value);
    rows.push(`| \`${key}\` | \`${camelToSnake(key)}\` | ${def.replace(/\|/g, '\\|')} | ${text} |`);
  }
  return [
    '# Settings',
    '',
    'Generated from `src/app/config.ts` by `npm run docs:options`; do not edit by hand.',
    'Pass settings to `new Celeriac({ ... })`. Names are Celery’s in camelCase (the Celery name is shown),',
    'units are Celery’s (seconds). A misspelt name fails at construction with a did-you-mean.',
    '',
    '| setting | Celery name | default | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(optionsDocPath, renderOptionsDoc());
  console.log(`wrote ${optionsDocPath}`);
}
