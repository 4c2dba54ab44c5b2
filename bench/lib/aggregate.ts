/**
 * From run records to report rows: each case's metrics summarized over its repetitions (`aggregate`),
 * and the feed hub's metrics that need another row of the same repetition, the no-queue ceiling
 * (`deriveRecords`).
 */
import type { RunRecord } from './context.js';
import type { Row } from './rows.js';
import { summarize } from './stats.js';

/** Aggregate the records of each case over its repetitions. */
export function aggregate(records: readonly RunRecord[]): Row[] {
  const rows = new Map<string, Row>();
  const values = new Map<string, Map<string, number[]>>();
  for (const r of records) {
    let row = rows.get(r.case);
    if (!row) {
      row = {
        workload: r.workload,
        group: r.group,
        case: r.case,
        label: r.label,
        system: r.system,
        broker: r.broker ?? 'redis',
        metrics: {},
        errors: [],
        skipped: null,
        runs: 0,
      };
      rows.set(r.case, row);
      values.set(r.case, new Map());
    }
    if (r.skipped) {
      row.skipped = r.skipped;
      continue;
    }
    row.runs++;
    if (r.error) row.errors.push(r.error);
    const vals = values.get(r.case)!;
    for (const [k, v] of Object.entries(r.metrics)) {
      const list = vals.get(k) ?? [];
      list.push(v);
      vals.set(k, list);
    }
  }
  for (const [id, row] of rows) {
    for (const [k, list] of values.get(id)!) row.metrics[k] = summarize(list);
  }
  return [...rows.values()];
}

/** Derived metrics that need other rows: fraction of the own-language ceiling and queue overhead. */
/**
 * Metrics that need the no-queue ceiling, paired within each repetition (the ceiling run of the same N
 * and repetition, minutes apart), so drifting machine load moves both sides of the ratio together.
 * Celery is compared with the Python ceiling, Celeriac and BullMQ with the Node one.
 */
export function deriveRecords(records: readonly RunRecord[]): RunRecord[] {
  return records.map((r) => {
    if (r.workload !== 'feedhub' || r.system === 'ceiling' || r.error || r.skipped) return r;
    const lang = r.system === 'celery' ? 'python' : 'node';
    const c = records.find(
      (x) => x.rep === r.rep && x.group === r.group && x.case.includes(`/ceiling-${lang}-`) && !x.error,
    );
    const fps = r.metrics.feeds_per_s;
    const cpu = r.metrics.cpu_ms_per_feed;
    const metrics = { ...r.metrics };
    if (c && fps !== undefined && c.metrics.feeds_per_s) metrics.ceiling_frac = fps / c.metrics.feeds_per_s;
    if (c && cpu !== undefined && c.metrics.cpu_ms_per_feed !== undefined) {
      metrics.overhead_ms_per_feed = cpu - c.metrics.cpu_ms_per_feed;
    }
    return { ...r, metrics };
  });
}
