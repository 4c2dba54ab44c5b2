/**
 * One case, once: its metrics, or why it was skipped, or its error, with how long it took. A case that
 * fails is recorded and the run goes on; the log shows each case as it starts and how it ended.
 */
import { type BenchContext, type Case, type RunRecord, Skip, type Workload } from './context.js';

export async function runCase(w: Workload, c: Case, ctx: BenchContext, rep: number): Promise<RunRecord> {
  const log = ctx.log;
  const t0 = performance.now();
  const rec: RunRecord = {
    workload: w.name,
    group: c.group,
    case: c.id,
    label: c.label,
    system: c.system,
    broker: c.broker,
    rep,
    metrics: {},
  };
  try {
    rec.metrics = await c.run(ctx);
    log(
      `    ${Object.entries(rec.metrics)
        .map(([k, v]) => `${k}=${Number(v.toPrecision(4))}`)
        .join(' ')}`,
    );
  } catch (err) {
    if (err instanceof Skip) {
      rec.skipped = err.message;
      log(`    skipped: ${err.message}`);
    } else {
      rec.error = (err as Error).message;
      log(`    FAILED: ${rec.error.split('\n').slice(0, 6).join('\n    ')}`);
    }
  }
  rec.seconds = (performance.now() - t0) / 1000;
  return rec;
}
