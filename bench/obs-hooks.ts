/**
 * What the tracing and metrics middleware cost a no-op task in-process, without a broker: the worker
 * hooks called as the consumer calls them (received, started, settled), 100 runs in flight, CPU
 * microseconds per task from process.cpuUsage(). Splits issue 16's observability cost into what is ours
 * (the middleware over the API's no-op tracer) and what the OpenTelemetry SDK adds per span, with a
 * NoopSpanProcessor and with the BatchSpanProcessor the bench's worker uses (its exporter drops spans).
 *
 *   node --import tsx bench/obs-hooks.ts [N=200000] [reps=3] [variants=all, e.g. none,sdk-batch]
 *
 * Each variant runs in a child process of its own (one heap each, so one variant's garbage is not billed
 * to the next), the variants interleaved repetition by repetition; medians printed. Variants:
 *   none        the run objects alone (what every line includes)
 *   metrics     metrics()
 *   tracing-api tracing() over @opentelemetry/api with no SDK registered (no-op spans): ours alone
 *   sdk-noop    tracing() over the SDK's TracerProvider with a NoopSpanProcessor
 *   sdk-batch   tracing() over the SDK with a BatchSpanProcessor and an exporter that drops every span
 *   both        sdk-batch + metrics (the bench's `--tracing --metrics-port 0` row)
 */
import { execFileSync } from 'node:child_process';
import * as api from '@opentelemetry/api';
import {
  BatchSpanProcessor,
  NoopSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { metrics } from '../src/middleware/metrics.js';
import type { TaskRun, WorkerMiddleware, WorkerScope } from '../src/middleware/middleware.js';
import { tracingWith } from '../src/middleware/tracing.js';
import type { Outcome } from '../src/task/outcome.js';

const VARIANTS = ['none', 'metrics', 'tracing-api', 'sdk-noop', 'sdk-batch', 'both'] as const;
type Variant = (typeof VARIANTS)[number];
const IN_FLIGHT = 100;

const dropping: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };

async function hooksOf(v: Variant): Promise<WorkerMiddleware[]> {
  const scope = {
    hostname: 'bench@host',
    worker: { stats: () => ({}), queues: ['q'] },
  } as unknown as WorkerScope;
  const out: WorkerMiddleware[] = [];
  if (v !== 'none' && v !== 'metrics') {
    const processor =
      v === 'sdk-noop' ? new NoopSpanProcessor() : new BatchSpanProcessor({ exporter: dropping });
    const opts =
      v === 'tracing-api' ? {} : { tracerProvider: new TracerProvider({ spanProcessors: [processor] }) };
    const worker = tracingWith(api, opts).worker as (s: WorkerScope) => WorkerMiddleware;
    out.push(worker(scope));
  }
  if (v === 'metrics' || v === 'both') {
    const m = metrics({});
    const w = await (m.worker as (s: WorkerScope) => Promise<WorkerMiddleware>)(scope);
    w.ready?.();
    out.push(w);
  }
  return out;
}

/** A run as the consumer hands it to the hooks: only the fields these two middleware read. */
function runOf(i: number): TaskRun {
  const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  return {
    delivery: { queue: 'q' },
    task: { name: 'bench.noop' },
    onLoop: true,
    acked: false,
    hardLimit: null,
    softLimit: null,
    disposition: null,
    loopActivity: null,
    children: null,
    request: {
      id,
      name: 'bench.noop',
      headers: { id, task: 'bench.noop', retries: 0 },
      retries: 0,
      eta: null,
      expires: null,
      priority: null,
      correlationId: id,
      replyTo: null,
    },
  } as unknown as TaskRun;
}

const success = { kind: 'success', value: null, runtime: 0.0001 } as unknown as Outcome;

function drive(hooks: readonly WorkerMiddleware[], n: number): void {
  const live: TaskRun[] = [];
  const settle = (r: TaskRun) => {
    for (const h of hooks) h.settled?.(r, success);
  };
  for (let i = 0; i < n; i++) {
    const r = runOf(i);
    for (const h of hooks) h.received?.(r);
    for (const h of hooks) h.started?.(r);
    live.push(r);
    if (live.length > IN_FLIGHT) settle(live.shift() as TaskRun);
  }
  for (const r of live) settle(r);
}

async function child(v: Variant, n: number): Promise<void> {
  const hooks = await hooksOf(v);
  drive(hooks, Math.min(n, 20_000)); // warm-up: optimised code and a steady heap before measuring
  const c0 = process.cpuUsage();
  drive(hooks, n);
  const c = process.cpuUsage(c0);
  process.stdout.write(`${(c.user + c.system) / n}\n`);
  process.exit(0);
}

const [, , a1, a2, a3] = process.argv;
const chosen = a3 && a1 !== '--child' ? VARIANTS.filter((v) => a3.split(',').includes(v)) : VARIANTS;
if (a1 === '--child') {
  await child(a2 as Variant, Number(a3));
} else {
  const n = Number(a1 ?? 200_000);
  const reps = Number(a2 ?? 3);
  const got = new Map<Variant, number[]>(chosen.map((v) => [v, []]));
  for (let rep = 0; rep < reps; rep++)
    for (const v of chosen) {
      const out = execFileSync(process.execPath, [
        ...process.execArgv,
        import.meta.filename,
        '--child',
        v,
        String(n),
      ]);
      got.get(v)?.push(Number(out.toString()));
    }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  const none = got.has('none') ? median(got.get('none') as number[]) : 0;
  console.log(`N=${n}, ${reps} repetitions; CPU µs per task, median (min–max); over "none"`);
  for (const [v, xs] of got) {
    const m = median(xs);
    const range = `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
    console.log(`${v.padEnd(12)} ${m.toFixed(2).padStart(6)} (${range})  +${(m - none).toFixed(2)}`);
  }
}
