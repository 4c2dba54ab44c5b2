/**
 * Hand-written sections of docs/benchmarks.md (e.g. "Task events cost", "Observability cost": measured
 * by hand, with their own commands) survive a regenerated report. Each sits between markers:
 *
 *   <!-- hand-written -->
 *   ## Observability cost
 *   …
 *   <!-- /hand-written -->
 *
 * The report is written with them in their place, before "Other benchmarks", in their order. A report
 * with no markers at all (written before them) has its hand-written sections found by heading: every `## `
 * section the generator never writes; they get their markers on that first rewrite.
 */

export const BEGIN = '<!-- hand-written -->';
export const END = '<!-- /hand-written -->';

/**
 * Headings of the sections the generator writes (lib/report.ts, lib/goals.ts), as prefixes: a section
 * with one of them is regenerated, never kept.
 */
const GENERATED = [
  'Goals (issue 19)',
  'How to run',
  'Machine',
  'Notes on this run',
  'Before / after',
  'At a glance',
  'Feed hub',
  'No-op throughput',
  'Round-trip latency',
  'In-flight scale',
  'Other benchmarks',
  'Not measured in this checkout',
  'Failed runs',
];

/** The hand-written blocks of an existing report, each with its markers. */
export function handWritten(md: string): string[] {
  const lines = md.split('\n');
  const blocks: string[] = [];
  if (lines.some((l) => l.trim() === BEGIN)) {
    let cur: string[] | null = null;
    for (const l of lines) {
      if (l.trim() === BEGIN) cur = [BEGIN];
      else if (cur && l.trim() === END) {
        blocks.push([...cur, END].join('\n'));
        cur = null;
      } else cur?.push(l);
    }
    // An unclosed block runs to the end of the file: kept, and closed.
    if (cur) blocks.push([...cur, END].join('\n').replace(/\n+(?=<!-- \/hand-written -->$)/, '\n'));
    return blocks;
  }
  // No markers: `## ` sections the generator never writes (from their heading to the next `## `).
  let cur: string[] | null = null;
  const close = () => {
    if (!cur) return;
    while (cur.length && cur[cur.length - 1]!.trim() === '') cur.pop();
    blocks.push([BEGIN, ...cur, END].join('\n'));
    cur = null;
  };
  for (const l of lines) {
    if (l.startsWith('## ')) {
      close();
      const title = l.slice(3).trim();
      if (!GENERATED.some((g) => title.startsWith(g))) cur = [l];
    } else cur?.push(l);
  }
  close();
  return blocks;
}

/** `generated` with `blocks` before its "Other benchmarks" section (at the end without one). */
export function withHandWritten(generated: string, blocks: readonly string[]): string {
  if (!blocks.length) return generated;
  const text = `${blocks.join('\n\n')}\n\n`;
  const at = generated.indexOf('\n## Other benchmarks');
  if (at < 0) return `${generated.replace(/\n*$/, '\n\n')}${text}`;
  return `${generated.slice(0, at + 1)}${text}${generated.slice(at + 1)}`;
}
