/**
 * Renders docs/reliability.md's chaos tables from the chaos suite's figures (test/chaos/report.ts writes
 * one JSON file per suite file). `npm run chaos:report` reads bench/results/chaos/ (the last run, any
 * size) and bench/results/chaos-full/ (a `CHAOS_SIZE=full CHAOS_OUT=bench/results/chaos-full` run) when
 * present, and replaces what lies between the `<!-- chaos:begin -->` and `<!-- chaos:end -->` markers.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChaosRow } from '../test/chaos/report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const docPath = join(root, 'docs', 'reliability.md');
const BEGIN = '<!-- chaos:begin -->';
const END = '<!-- chaos:end -->';
const BROKER_NAMES: Record<string, string> = {
  sqlite: 'SQLite',
  redis: 'Redis',
  amqp: 'RabbitMQ',
  memory: 'memory',
};

interface RunFile {
  size: string;
  at: string;
  rows: ChaosRow[];
}

function load(dir: string): { file: string; run: RunFile }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      file: f.replace(/\.json$/, ''),
      run: JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunFile,
    }));
}

const cell = (s: unknown) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
const ms = (v: number | null | undefined) =>
  v == null ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`;

export function renderTables(dirs: { title: string; dir: string }[]): string {
  const out: string[] = [];
  for (const { title, dir } of dirs) {
    const files = load(dir);
    if (!files.length) continue;
    const sizes = [...new Set(files.map((f) => f.run.size))].join(', ');
    const dates = files.map((f) => f.run.at).sort();
    out.push(`### ${title} (CHAOS_SIZE=${sizes}; ${dates[0]?.slice(0, 10) ?? ''})`, '');
    const rows = files.flatMap((f) => f.run.rows.map((r) => ({ ...r, file: f.file })));
    for (const broker of [...new Set(rows.map((r) => r.broker))]) {
      out.push(`**${BROKER_NAMES[broker] ?? broker}**`, '');
      out.push('| case | sent | lost | duplicated | recovery | notes |', '|---|---:|---:|---:|---:|---|');
      for (const r of rows.filter((x) => x.broker === broker)) {
        out.push(
          `| ${cell(r.case)} | ${r.sent} | ${r.lost} | ${r.duplicated} | ${ms(r.recoveryMs)} | ${cell(r.notes)} (${r.file}) |`,
        );
      }
      out.push('');
    }
  }
  return out.join('\n').trimEnd();
}

function main(): void {
  const tables = renderTables([
    { title: 'Last run', dir: join(root, 'bench', 'results', 'chaos') },
    { title: 'Full size', dir: join(root, 'bench', 'results', 'chaos-full') },
  ]);
  const doc = readFileSync(docPath, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${docPath} has no ${BEGIN} … ${END} markers`);
  writeFileSync(docPath, `${doc.slice(0, a + BEGIN.length)}\n${tables}\n${doc.slice(b)}`);
  process.stdout.write(`wrote ${docPath}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
