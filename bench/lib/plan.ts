/**
 * `--plan`: the cases each repetition would run and what the run should take, without measuring. The
 * estimate sums, per case, the median `seconds` (the whole case: worker start and stop, drivers, clean-up)
 * of the newest saved run that has the case (bench/results/*.json and bench/results/tmp/*.json), plus the
 * build. Runs saved before cases were timed give an estimate from their metrics (the measured spans plus
 * OVERHEAD_S, which made the 2026-11-24 full run's 44.6 min add up); a case no run has takes the median of
 * its workload's cases of the same system and broker (e.g. a new configuration of Celeriac on Redis).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Case, type RunRecord, runsIn } from './context.js';
import { median } from './stats.js';

/** Worker start and stop, the drivers' own start-up and the clean-up of one queue case (ceilings: 1.5 s). */
const OVERHEAD_S = 4;

/** A case's seconds from the metrics of a run saved before `seconds` was recorded. */
export function secondsFromMetrics(rec: RunRecord): number | undefined {
  const m = rec.metrics;
  const n = Number(/^\w+-(\d+)\//.exec(rec.case)?.[1] ?? Number.NaN);
  const over = rec.system === 'ceiling' ? 1.5 : OVERHEAD_S;
  const span =
    rec.workload === 'noop'
      ? n / (m.enqueue_one_per_s ?? Number.NaN) +
        n / (m.drain_per_s ?? Number.NaN) +
        (m.enqueue_batch_per_s ? n / m.enqueue_batch_per_s : 0)
      : rec.workload === 'roundtrip'
        ? ((n + 20) * (m.mean_ms ?? Number.NaN)) / 1000
        : (m.wall_s ?? Number.NaN); // feed hub (plus its 50-feed warm-up, within the overhead), in-flight
  return Number.isFinite(span) ? span + over : undefined;
}

/** `feedhub-5000/celeriac@redis`: the fallback key of a case no saved run has. */
function familyKey(c: { id: string; system: string; broker?: string }): string {
  return `${c.id.slice(0, c.id.indexOf('/'))}/${c.system}@${c.broker ?? 'redis'}`;
}

/** Seconds per case id (and per family, see familyKey) from the saved runs, the newest run winning. */
export function savedTimings(dirs: readonly string[]): Map<string, number> {
  const files = dirs
    .filter((d) => existsSync(d))
    .flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.json'))
        .map((f) => join(d, f)),
    );
  const runs: { date: string; records: RunRecord[] }[] = [];
  for (const f of files) {
    try {
      const j = JSON.parse(readFileSync(f, 'utf8')) as {
        meta?: { date?: string; smoke?: boolean };
        records?: RunRecord[];
      };
      if (j.meta?.smoke || !j.records) continue;
      runs.push({ date: j.meta?.date ?? '', records: j.records });
    } catch {
      /* not a run */
    }
  }
  runs.sort((a, b) => (a.date < b.date ? 1 : -1));
  const out = new Map<string, number>();
  for (const r of runs) {
    const per = new Map<string, number[]>();
    const fam = new Map<string, number[]>();
    for (const rec of r.records) {
      if (rec.skipped || rec.error || out.has(rec.case)) continue;
      const t = rec.seconds ?? secondsFromMetrics(rec);
      if (t === undefined) continue;
      per.set(rec.case, [...(per.get(rec.case) ?? []), t]);
      const k = familyKey({ id: rec.case, system: rec.system, broker: rec.broker });
      fam.set(k, [...(fam.get(k) ?? []), t]);
    }
    for (const [id, xs] of per) out.set(id, median(xs));
    for (const [k, xs] of fam) if (!out.has(k)) out.set(k, median(xs));
  }
  return out;
}

/** The plan as text: the cases of the first repetition with their seconds, a line per repetition, the estimate. */
export function renderPlan(
  cases: readonly Pick<Case, 'id' | 'system' | 'broker' | 'once'>[],
  reps: number,
  allReps: boolean,
  timings: ReadonlyMap<string, number>,
  buildS = 15,
): string {
  const lines: string[] = [];
  let total = buildS;
  const untimed = new Set<string>();
  for (let rep = 1; rep <= reps; rep++) {
    const these = cases.filter((c) => runsIn(c, rep, allReps));
    let s = 0;
    const rows: string[] = [];
    for (const c of these) {
      const t = timings.get(c.id) ?? timings.get(familyKey(c));
      if (t === undefined) untimed.add(c.id);
      else s += t;
      const how =
        t === undefined ? '?' : `${t.toFixed(0)} s${timings.has(c.id) ? '' : " (its family's median)"}`;
      rows.push(`  ${c.id}${c.once && !allReps ? ', first repetition only' : ''}: ${how}`);
    }
    total += s;
    lines.push(`repetition ${rep}: ${these.length} cases, ~${(s / 60).toFixed(1)} min`);
    if (rep === 1) lines.push(...rows);
  }
  const missing = untimed.size
    ? ` plus ${untimed.size} case(s) no saved run has (${[...untimed].join(', ')})`
    : '';
  lines.push(
    `estimate: ~${(total / 60).toFixed(1)} min${missing}, on a machine as loaded as the one that timed them`,
  );
  return lines.join('\n');
}
