/**
 * What the chaos suite (`npm run chaos`, test/chaos/*.test.ts) records: one row per broker and case,
 * written as JSON to `$CHAOS_OUT` (default bench/results/chaos/), from which docs/reliability.md's
 * tables are built. `CHAOS_SIZE=full` runs the full sizes (under 15 minutes on the 2-core machine); the
 * default `small` is what CI runs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ChaosRow {
  /** sqlite | redis | amqp | memory */
  readonly broker: string;
  /** What was done, in words a reader of docs/reliability.md understands ("kill -9 ×10, acks-late"). */
  readonly case: string;
  readonly sent: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Milliseconds from the fault to the first task run again, where the case has one. */
  readonly recoveryMs?: number | null;
  readonly notes?: string;
}

export type ChaosSize = 'small' | 'full';

export function chaosSize(): ChaosSize {
  return process.env.CHAOS_SIZE === 'full' ? 'full' : 'small';
}

/** Pick the small or the full figure. */
export const sized = (small: number, full: number): number => (chaosSize() === 'full' ? full : small);

/** Write this file's rows (one JSON file per suite file: `<name>.json`). */
export async function record(name: string, rows: readonly ChaosRow[]): Promise<void> {
  const dir = process.env.CHAOS_OUT ?? join(process.cwd(), 'bench', 'results', 'chaos');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, `${name}.json`),
    `${JSON.stringify({ size: chaosSize(), at: new Date().toISOString(), rows }, null, 2)}\n`,
  );
}
