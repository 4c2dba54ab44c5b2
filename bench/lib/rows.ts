/**
 * A report row and the number format every table uses: the pieces the report and the goals table both
 * read, kept apart so that neither imports the other.
 */
import type { SystemOrCeiling } from './context.js';
import type { Summary } from './stats.js';
import type { BrokerId } from './systems.js';

export interface Row {
  workload: string;
  group: string;
  case: string;
  label: string;
  system: SystemOrCeiling;
  broker: BrokerId;
  metrics: Record<string, Summary>;
  errors: string[];
  skipped: string | null;
  runs: number;
}

export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  if (a >= 100) return Math.round(x).toLocaleString('en-US');
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}
