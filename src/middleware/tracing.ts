/**
 * OpenTelemetry tracing as a middleware: `app.use(await tracing())`, or `celeriac worker --tracing`.
 * `@opentelemetry/api` is an optional peer dependency, imported here (dynamically) only when tracing is
 * asked for, so an app without it loads nothing and pays nothing. Spans go through whatever
 * TracerProvider the user registered (or the one passed in); without one the API's no-op tracer makes them free.
 *
 * Spans, named and attributed as opentelemetry-instrumentation-celery (Python) does, so dashboards built
 * for Celery carry over:
 *  - PRODUCER `apply_async/<task>` around every publish of this app (delay, applyAsync, sendTask, and what
 *    the worker publishes: retries, chain steps, callbacks, chord bodies, replacements). Its context goes
 *    into the message's top-level `traceparent`/`tracestate` headers (trace-context.ts says why there).
 *  - CONSUMER `run/<task>` for every run, a child of the producer span found in the message; it lives in
 *    the worker process from the start of the run until the message is settled, so the worker's own
 *    publishes while settling (a retry, the next chain step, a chord body) are its children, whichever pool ran the task.
 * Parent of a publish, first found: the active OpenTelemetry span (a web request, a span the task opened
 * with `context.with`); the run of the task that is publishing (`currentTask()`, for `.delay()` inside a
 * task on the async and solo pools); the run of the message's own id (a retry) or of its `parent_id` (a
 * chain step, a callback: the worker publishes them after the task returned). A task in a prefork or
 * threads child publishes from the child, which has no run spans: pass the context yourself there.
 * Retries set `celery.retry.reason`, failures record the exception as an event with status ERROR (not for a
 * task's expected `throws`, as Python), revokes set `celery.revoked.reason` (and `celery.terminated.signal`).
 */
import type * as Otel from '@opentelemetry/api';
import { ConfigError } from '../errors.js';
import type { TaskRequest } from '../protocol/message.js';
import { taskStorage } from '../task/context.js';
import type { Outcome } from '../task/outcome.js';
import type { Middleware, OutgoingTask, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';
import { readTraceParent, writeTraceParent } from './trace-context.js';

type Api = typeof Otel;

export interface TracingOptions {
  /** Where spans go. @defaultValue the globally registered TracerProvider (`trace.setGlobalTracerProvider`) */
  tracerProvider?: Otel.TracerProvider;
  /**
   * How the context travels in message headers: 'w3c' writes and reads `traceparent`/`tracestate` itself
   * (what Python's instrumentation sends with its default propagator), whatever propagator is registered;
   * 'global' uses the registered propagator (`propagation.setGlobalPropagator`, e.g. B3).
   * @defaultValue 'w3c'
   */
  propagation?: 'w3c' | 'global';
}

const TRACER_NAME = 'celeriac';
/** Celery's state names, for `celery.state` (Python sets it from task_postrun's `state`). */
const STATE: Record<Outcome['kind'], string> = {
  success: 'SUCCESS',
  failure: 'FAILURE',
  retry: 'RETRY',
  reject: 'REJECTED',
  ignore: 'IGNORED',
  revoked: 'REVOKED',
};

/** Load `@opentelemetry/api` and make the tracing middleware; a clear error when it is not installed. */
export async function tracing(options: TracingOptions = {}): Promise<Middleware> {
  let api: Api;
  try {
    api = await import('@opentelemetry/api');
  } catch (err) {
    throw new ConfigError(
      `tracing needs the OpenTelemetry API: npm install @opentelemetry/api (${(err as Error).message})`,
    );
  }
  return tracingWith(api, options);
}

/** The middleware over an API module already loaded. */
export function tracingWith(api: Api, options: TracingOptions = {}): Middleware {
  const provider = options.tracerProvider;
  const tracer = (provider ?? api.trace.getTracerProvider()).getTracer(TRACER_NAME);
  const w3c = (options.propagation ?? 'w3c') === 'w3c';
  const { SpanKind, SpanStatusCode } = api;
  // One options object per kind, shared by every span (the SDK only reads it).
  const RUN_OPTIONS: Otel.SpanOptions = { kind: SpanKind.CONSUMER };
  const SEND_OPTIONS: Otel.SpanOptions = { kind: SpanKind.PRODUCER };
  /**
   * Consumer spans of the runs live in this process, by task id (to parent what they publish). One Map,
   * no WeakMap per run: a WeakMap entry per task is measurable garbage-collector work at thousands a second.
   */
  const runs = new Map<string, { readonly run: TaskRun; readonly span: Otel.Span }>();
  /** Runs whose id a newer run took before they settled (a retry that started first): rare. */
  const displaced = new Map<TaskRun, Otel.Span>();
  const sending = new WeakMap<OutgoingTask, Otel.Span>();

  const headerGetter: Otel.TextMapGetter<Record<string, unknown>> = {
    keys: (c) => Object.keys(c),
    get: (c, k) => {
      const v = c[k];
      return typeof v === 'string' ? v : undefined;
    },
  };
  const headerSetter: Otel.TextMapSetter<Record<string, unknown>> = {
    set: (c, k, v) => {
      c[k] = v;
    },
  };

  function extract(headers: Record<string, unknown>): Otel.Context {
    const root = api.ROOT_CONTEXT;
    if (!w3c) return api.propagation.extract(root, headers, headerGetter);
    const tp = readTraceParent(headers);
    if (!tp) return root;
    return api.trace.setSpanContext(root, {
      traceId: tp.traceId,
      spanId: tp.spanId,
      traceFlags: tp.traceFlags,
      isRemote: true,
      ...(tp.traceState ? { traceState: api.createTraceState(tp.traceState) } : {}),
    });
  }

  function inject(span: Otel.Span, ctx: Otel.Context, headers: Record<string, unknown>): void {
    if (!w3c) {
      api.propagation.inject(api.trace.setSpan(ctx, span), headers, headerSetter);
      return;
    }
    const sc = span.spanContext();
    if (!api.isSpanContextValid(sc)) return;
    writeTraceParent(headers, {
      traceId: sc.traceId,
      spanId: sc.spanId,
      traceFlags: sc.traceFlags,
      traceState: sc.traceState?.serialize() || null,
    });
  }

  function publishParent(out: OutgoingTask): Otel.Context {
    const active = api.context.active();
    if (api.trace.getSpan(active)) return active;
    const current = taskStorage.getStore();
    const parentId = out.message.headers.parent_id;
    const span = (
      (current && runs.get(current.id)) ??
      runs.get(out.id) ??
      (typeof parentId === 'string' ? runs.get(parentId) : undefined)
    )?.span;
    return span ? api.trace.setSpan(active, span) : active;
  }

  function startRun(run: TaskRun, scope: WorkerScope): Otel.Span {
    const req = run.request;
    const span = tracer.startSpan(`run/${req.name}`, RUN_OPTIONS, extract(req.headers));
    if (span.isRecording()) setRunAttributes(span, req, run.delivery.queue, scope.hostname);
    const before = runs.get(req.id);
    if (before) displaced.set(before.run, before.span);
    runs.set(req.id, { run, span });
    return span;
  }

  function endRun(run: TaskRun, span: Otel.Span, o: Outcome): void {
    span.setAttribute('celery.state', STATE[o.kind]);
    switch (o.kind) {
      case 'failure':
        if (o.expected) break;
        span.recordException({
          name: o.exc.exc_type,
          message: o.exc.exc_message.map(String).join(', '),
          ...(o.traceback ? { stack: o.traceback } : {}),
        });
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: `${o.exc.exc_type}: ${o.exc.exc_message.join(', ')}`,
        });
        break;
      case 'retry':
        span.setAttribute('celery.retry.reason', o.reason);
        break;
      case 'revoked':
        span.setAttribute(
          'celery.revoked.reason',
          o.expired ? 'expired' : o.terminated ? 'terminated' : 'revoked',
        );
        if (o.signum != null) span.setAttribute('celery.terminated.signal', o.signum);
        break;
      default:
        break;
    }
    span.end();
    if (runs.get(run.request.id)?.span === span) runs.delete(run.request.id);
  }

  return {
    name: 'tracing',
    beforePublish(out) {
      const parent = publishParent(out);
      const span = tracer.startSpan(`apply_async/${out.name}`, SEND_OPTIONS, parent);
      if (span.isRecording()) {
        span.setAttribute('celery.action', 'apply_async');
        span.setAttribute('celery.task_name', out.name);
        span.setAttribute('messaging.system', 'celery');
        span.setAttribute('messaging.operation.type', 'send');
        span.setAttribute('messaging.operation.name', 'apply_async');
        span.setAttribute('messaging.destination.name', out.queue);
        span.setAttribute('messaging.destination', out.queue);
        span.setAttribute('messaging.message.id', out.id);
      }
      inject(span, parent, out.message.headers);
      sending.set(out, span);
    },
    afterPublish(out) {
      sending.get(out)?.end();
    },
    worker(scope: WorkerScope): WorkerMiddleware {
      return {
        started(run) {
          startRun(run, scope);
        },
        settled(run, o) {
          // A run settled without starting (revoked or expired on arrival) still gets its span.
          const live = runs.get(run.request.id);
          let span = live?.run === run ? live.span : displaced.get(run);
          if (span && span !== live?.span) displaced.delete(run);
          span ??= o.kind === 'revoked' ? startRun(run, scope) : undefined;
          if (span) endRun(run, span, o);
        },
      };
    },
  };
}

/**
 * Python's `set_attributes_from_context` names for a request, plus the messaging semantic conventions.
 * Set on the started span, one call each, as Python's instrumentation does (after `start_span`, only
 * when the span records), not passed to `startSpan`: the SDK validates `startSpan`'s attributes twice
 * (once for the sampler, once against the span limits), each value with a fresh WeakSet, which at
 * thousands of spans a second is most of what a span costs (docs/benchmarks.md, "Observability cost").
 * A sampled-out span then costs no attribute work at all.
 */
function setRunAttributes(span: Otel.Span, req: TaskRequest, queue: string, hostname: string): void {
  span.setAttribute('celery.action', 'run');
  span.setAttribute('celery.task_name', req.name);
  span.setAttribute('celery.hostname', hostname);
  span.setAttribute('messaging.system', 'celery');
  span.setAttribute('messaging.operation.type', 'process');
  span.setAttribute('messaging.operation.name', 'run');
  span.setAttribute('messaging.destination.name', queue);
  span.setAttribute('messaging.destination', queue);
  span.setAttribute('messaging.message.id', req.id);
  if (req.correlationId) span.setAttribute('messaging.message.conversation_id', req.correlationId);
  if (req.retries) span.setAttribute('celery.retries', req.retries);
  if (req.eta) span.setAttribute('celery.eta', req.eta.toISOString());
  if (req.expires) span.setAttribute('celery.expires', req.expires.toISOString());
  if (req.priority != null) span.setAttribute('celery.priority', req.priority);
  if (req.replyTo) span.setAttribute('celery.reply_to', req.replyTo);
}
