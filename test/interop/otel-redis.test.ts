/**
 * One trace across languages on Redis: a Python Celery 5.2 client starts it (a span of a "web request",
 * its trace context injected where opentelemetry-instrumentation-celery injects it), a Celeriac worker
 * with the tracing middleware continues it in `run/otel.relay` and calls a Python task from there, and a
 * Python worker's task reads the context it was called with where the instrumentation's getter reads it.
 * The trace id is the same throughout and each parent span id is the span before it.
 * The Python side EMULATES the instrumentation's header layout (py/otel_emulation.py says what it copies
 * from the library's source): Python OpenTelemetry is not installable on this machine.
 * Redis DB 11, unique queues. Skipped locally when Redis or Python Celery is missing; fails in CI.
 */
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac, tracing } from '../../src/index.js';
import { createLogger } from '../../src/util/log.js';
import type { Worker } from '../../src/worker/worker.js';
import { rawClient, skipRedis } from '../helpers/redis.js';
import { inCI, uniq, waitUntil } from '../helpers/services.js';
import { PyDriver, pythonCeleryAvailable, startPythonWorker, type WorkerProcess } from './harness.js';

const DB = 11;
const URL_ = `redis://127.0.0.1:6379/${DB}`;
const skip = (skipRedis || !pythonCeleryAvailable) && !inCI;

describe.skipIf(skip)('interop (redis): one trace, Python client → Celeriac worker → Python worker', () => {
  const tsQueue = uniq('otel-ts');
  const pyQueue = uniq('otel-py');
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const env = { INTEROP_BROKER: URL_, INTEROP_BACKEND: URL_, INTEROP_QUEUE: pyQueue };
  let app: Celeriac;
  let worker: Worker;
  let pyWorker: WorkerProcess;
  let py: PyDriver;

  beforeAll(async () => {
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    app = new Celeriac({ broker: URL_, backend: URL_, resultExpires: 600 });
    app.use(await tracing({ tracerProvider: provider }));
    app.task('otel.relay', async () => {
      // Calls the Python task and waits for what it saw.
      const r = await app.sendTask('otel.whoami', [], {}, { queue: pyQueue });
      return r.get({ timeout: 30 });
    });
    worker = app.worker({ queues: [tsQueue], concurrency: 4, logger: createLogger('error', () => {}) });
    await worker.start();
    pyWorker = await startPythonWorker({
      pool: 'prefork',
      queue: pyQueue,
      name: 'otelpy',
      env,
      app: 'otel_tasks',
    });
    py = new PyDriver(env, 'otel_driver.py');
  }, 90_000);

  afterAll(async () => {
    await py?.close();
    await pyWorker?.stop();
    await worker?.stop();
    await app?.close();
    api.context.disable();
    const raw = rawClient(DB);
    await raw.del(tsQueue, pyQueue, `_kombu.binding.${tsQueue}`, `_kombu.binding.${pyQueue}`);
    raw.disconnect();
  });

  it('keeps one trace id, each span the parent of the next', async () => {
    const sent = await py.call<{
      id: string;
      trace_id: string;
      request_span_id: string;
      producer_span_id: string;
    }>('send_traced', { name: 'otel.relay', queue: tsQueue, tracestate: 'py=1' });
    const seen = await py.call<{ traceparent: string; tracestate: string | null; parent_id: string }>('get', {
      id: sent.id,
    });
    await waitUntil(() => exporter.getFinishedSpans().some((s) => s.name === 'run/otel.relay'));
    const byName = (n: string) => exporter.getFinishedSpans().find((s) => s.name === n) as ReadableSpan;
    const run = byName('run/otel.relay');
    const send = byName('apply_async/otel.whoami');
    const [, pyTrace, pyParent] = seen.traceparent.split('-');

    // Python client span → Python PRODUCER → Celeriac run → Celeriac PRODUCER → the Python task.
    expect(run.spanContext().traceId).toBe(sent.trace_id);
    expect(run.parentSpanContext?.spanId).toBe(sent.producer_span_id);
    expect(send.spanContext().traceId).toBe(sent.trace_id);
    expect(send.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
    expect(pyTrace).toBe(sent.trace_id);
    expect(pyParent).toBe(send.spanContext().spanId);
    expect(seen.tracestate).toBe('py=1');
    expect(pyWorker.log()).toContain(`traceparent=${seen.traceparent}`);

    // The trace, for the record (docs/observability.md quotes one).
    const rows = [
      ['python', 'request span (emulated)', sent.request_span_id, '-'],
      ['python', 'PRODUCER apply_async/otel.relay (emulated)', sent.producer_span_id, sent.request_span_id],
      [
        'celeriac',
        `${api.SpanKind[run.kind]} ${run.name}`,
        run.spanContext().spanId,
        run.parentSpanContext?.spanId,
      ],
      [
        'celeriac',
        `${api.SpanKind[send.kind]} ${send.name}`,
        send.spanContext().spanId,
        send.parentSpanContext?.spanId,
      ],
      ['python', 'otel.whoami read traceparent', '-', pyParent],
    ];
    console.log(`trace ${sent.trace_id}\n${rows.map((r) => r.join(' | ')).join('\n')}`);
  }, 60_000);
});
