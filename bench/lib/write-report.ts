/**
 * Where a run's numbers go: the markdown report (its hand-written sections kept in their place) and the
 * SVG chart beside it, for a fresh run and for `--render` of a saved one alike.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { renderChart } from './chart.js';
import type { RunRecord } from './context.js';
import { handWritten, withHandWritten } from './handwritten.js';
import { aggregate, deriveRecords, type Meta, renderReport } from './report.js';

/** Aggregate, then write the markdown report (keeping its hand-written sections) and the SVG chart next to it. */
export function writeReport(meta: Meta, records: RunRecord[], notes: string[], reportPath: string): string {
  const rows = aggregate(deriveRecords(records));
  mkdirSync(dirname(reportPath), { recursive: true });
  // The report's hand-written sections (lib/handwritten.ts) stay, in their place.
  const kept = existsSync(reportPath) ? handWritten(readFileSync(reportPath, 'utf8')) : [];
  writeFileSync(reportPath, `${withHandWritten(renderReport(meta, rows, notes, records), kept)}\n`);
  const svgPath = reportPath.replace(/\.md$/, '.svg');
  const subtitle = `${meta.machine.cpu}, ${meta.machine.nproc} cores · ${meta.date.slice(0, 10)} · ${meta.command}`;
  writeFileSync(svgPath, renderChart(rows, subtitle));
  return svgPath;
}

/** The note every report carries: how loaded the machine was, which the numbers depend on. */
export const loadNote = (meta: Meta) =>
  `Load average (1, 5, 15 min) before / after: ${meta.machine.loadBefore} / ${meta.machine.loadAfter} on ${meta.machine.nproc} cores. The cores are shared with other work; numbers from a loaded machine are lower and noisier than on an idle one.`;
