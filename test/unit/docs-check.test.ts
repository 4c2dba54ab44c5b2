// The docs check (scripts/docs-check.ts): every TypeScript block of README.md and docs/*.md compiles
// against the sources, and a block that does not is reported at its Markdown line.
import { describe, expect, it } from 'vitest';
import { checkDocs, markdownFiles } from '../../scripts/docs-check.js';

// One tsc run (it is the slow part) over the real docs and a made-up one whose two errors are known.
describe('docs check', () => {
  it('every block of README.md and docs/*.md compiles; a broken block is reported at its line', async () => {
    const md = [
      '# t', // 1
      '```ts', // 2
      "import { Celeriac } from 'celeriac';", // 3
      'export const app = new Celeriac();', // 4
      "export const add = app.task('add', (x: number, y: number) => x + y);", // 5
      '```', // 6
      '```ts', // 7
      'const r = await add.delay(2, 3);', // 8
      '```', // 9
      '```ts', // 10
      'const r = await add.delay(2, 3);', // 11
      "await add.applyAsync([2, '3']);", // 12: a wrong argument type
      '```', // 13
      '```ts fragment', // 14
      'this is not TypeScript', // 15
      '```', // 16
      '<!-- docs-check: declare function helper(): number; -->', // 17
      '```ts', // 18
      'const n: string = helper();', // 19: helper is declared, its type is wrong
      '```', // 20
    ].join('\n');
    const all = await checkDocs([...markdownFiles(), ['docs/made-up.md', md]]);
    // The real docs (npm run docs:check prints the same list).
    expect(all.filter((p) => !p.startsWith('docs/made-up.md'))).toEqual([]);
    // The made-up one: setup blocks are shared, scenes are scoped (two `const r`), fragments skipped,
    // hidden context declares; the wrong argument and the wrong type are found, at their lines.
    const problems = all.filter((p) => p.startsWith('docs/made-up.md'));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^docs\/made-up\.md:12: error TS2322/);
    expect(problems[1]).toMatch(/^docs\/made-up\.md:19: error TS2322/);
  }, 180_000);
});
