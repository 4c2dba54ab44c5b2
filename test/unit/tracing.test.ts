/**
 * The tracing middleware against the OpenTelemetry SDK's in-memory exporter, on the memory broker: a
 * publish and its run are parented across the queue; retries, failures, revokes and chain steps show as
 * Python's instrumentation shows them; a message with Python's header layout (the golden fixture
 * captured from Celery 5.2 by test/fixtures/celery52/capture_otel.py) is continued by our worker.
 */
import { readFileSync } from 'node:fs';
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOffSampler,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker, Consumer } from '../../src/brokers/broker.js';
import { parseEnvelope } from '../../src/brokers/redis/envelope.js';
import { chord, currentTask } from '../../src/index.js';
import { readTraceParent } from '../../src/middleware/trace-context.js';
import { tracing } from '../../src/middleware/tracing.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { uniq, waitUntil } from '../helpers/services.js';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  api.context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  api.context.disable();
});

let t: TestApp | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
  exporter.reset();
});

async function tracedApp(): Promise<TestApp> {
  t = memoryApp({ taskDefaultQueue: uniq('q') });
  t.app.use(await tracing({ tracerProvider: provider }));
  return t;
}

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const named = (name: string): ReadableSpan[] => spans().filter((s) => s.name === name);
const one = (name: string): ReadableSpan => {
  const found = named(name);
  expect(found, `spans named ${name}: ${spans().map((s) => s.name)}`).toHaveLength(1);
  return found[0] as ReadableSpan;
};
/** The headers of the first message of `queue`, taken off it. */
async function firstHeaders(broker: Broker, queue: string): Promise<Record<string, unknown>> {
  let consumer: Consumer | null = null;
  const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
    broker
      .consume(
        [queue],
        (d) => {
          void d.ack();
          resolve(d.message.headers);
        },
        { prefetch: 1 },
      )
      .then((c) => {
        consumer = c;
      }, reject);
  });
  await (consumer as Consumer | null)?.cancel();
  return headers;
}
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

describe('tracing', () => {
  it('parents the run of a task on the span of its publish, itself under the caller’s active span', async () => {
    const { app, startWorker } = await tracedApp();
    const add = app.task('t.add', (x: number, y: number) => x + y);
    await startWorker();
    const tracer = provider.getTracer('test');
    const web = tracer.startSpan('GET /sum');
    const r = await api.context.with(api.trace.setSpan(api.context.active(), web), () => add.delay(2, 3));
    web.end();
    expect(await r.get({ timeout: 5 })).toBe(5);
    await waitUntil(() => named('run/t.add').length === 1);

    const send = one('apply_async/t.add');
    const run = one('run/t.add');
    expect(send.kind).toBe(api.SpanKind.PRODUCER);
    expect(run.kind).toBe(api.SpanKind.CONSUMER);
    expect(parentOf(send)).toBe(web.spanContext().spanId);
    expect(parentOf(run)).toBe(send.spanContext().spanId);
    expect(new Set(spans().map((s) => s.spanContext().traceId))).toEqual(
      new Set([web.spanContext().traceId]),
    );
    expect(send.attributes).toMatchObject({
      'celery.action': 'apply_async',
      'celery.task_name': 't.add',
      'messaging.system': 'celery',
      'messaging.operation.type': 'send',
      'messaging.message.id': r.id,
    });
    expect(run.attributes).toMatchObject({
      'celery.action': 'run',
      'celery.task_name': 't.add',
      'celery.state': 'SUCCESS',
      'messaging.operation.type': 'process',
      'messaging.message.id': r.id,
    });
    expect(run.attributes['messaging.destination.name']).toBe(send.attributes['messaging.destination.name']);
  });

  it('writes the context as a top-level traceparent header, read back by the rules Python’s getter uses', async () => {
    const { app } = await tracedApp();
    app.task('t.noop', () => null);
    const broker = await app.broker();
    const queue = app.conf.taskDefaultQueue;
    const tracer = provider.getTracer('test');
    const parent = tracer.startSpan('parent');
    const state = api.createTraceState('vendor=abc');
    const ctx = api.trace.setSpanContext(api.context.active(), {
      ...parent.spanContext(),
      traceState: state,
    });
    const r = await api.context.with(ctx, () => app.sendTask('t.noop', []));
    const got = await firstHeaders(broker, queue);
    // Python's CeleryGetter reads getattr(task.request, 'traceparent'): a protocol v2 header of that name.
    expect(typeof got.traceparent).toBe('string');
    const tp = readTraceParent(got);
    const send = one('apply_async/t.noop');
    expect(tp).toEqual({
      traceId: parent.spanContext().traceId,
      spanId: send.spanContext().spanId,
      traceFlags: 1,
      traceState: 'vendor=abc',
    });
    expect(got.id).toBe(r.id);
  });

  it('propagates a sampled-out trace (flags 00) without recording or exporting its spans', async () => {
    // Attributes are set only on recording spans, as Python's instrumentation does: a sampled-out span
    // costs no attribute work, and still carries the trace on.
    const offExporter = new InMemorySpanExporter();
    const offProvider = new TracerProvider({
      sampler: new AlwaysOffSampler(),
      spanProcessors: [new SimpleSpanProcessor({ exporter: offExporter })],
    });
    t = memoryApp({ taskDefaultQueue: uniq('q') });
    const { app, startWorker } = t;
    app.use(await tracing({ tracerProvider: offProvider }));
    const noop = app.task('t.quiet', () => null);
    const broker = await app.broker();
    const r = await noop.delay();
    const got = await firstHeaders(broker, app.conf.taskDefaultQueue);
    const tp = readTraceParent(got);
    expect(tp?.traceFlags).toBe(0);
    expect(got.id).toBe(r.id);
    await startWorker();
    expect(await (await noop.delay()).get({ timeout: 5 })).toBeNull();
    expect(offExporter.getFinishedSpans()).toEqual([]);
  });

  it('continues a trace from a message with Python’s header layout (golden fixture from Celery 5.2)', async () => {
    const fx = JSON.parse(
      readFileSync(new URL('../fixtures/celery52/msg-otel-traceparent.json', import.meta.url), 'utf8'),
    ) as { trace_id: string; producer_span_id: string; messages: { raw: string }[] };
    const { app, startWorker } = await tracedApp();
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const mul = app.task('tasks.mul', (x: number, y: number) => x * y);
    const broker = await app.broker();
    const { message } = parseEnvelope((fx.messages[0] as { raw: string }).raw);
    await startWorker();
    await broker.publish(app.conf.taskDefaultQueue, message);
    await waitUntil(() => named('run/tasks.add').length === 1);
    const run = one('run/tasks.add');
    expect(run.spanContext().traceId).toBe(fx.trace_id);
    expect(parentOf(run)).toBe(fx.producer_span_id);
    expect(run.parentSpanContext?.isRemote).toBe(true);
    expect(run.spanContext().traceState?.serialize()).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(add.name).toBe('tasks.add');
    expect(mul.name).toBe('tasks.mul');
  });

  it('shows a retry: RETRY with its reason, the retry published under the run, the next run under that', async () => {
    const { app, startWorker } = await tracedApp();
    let calls = 0;
    const flaky = app.task('t.flaky', () => {
      calls++;
      if (calls === 1) throw currentTask().retry({ countdown: 0, exc: new Error('not yet') });
      return 'ok';
    });
    await startWorker();
    const r = await flaky.delay();
    expect(await r.get({ timeout: 5 })).toBe('ok');
    await waitUntil(() => named('run/t.flaky').length === 2);
    const [first, second] = named('run/t.flaky').sort((a, b) =>
      a.attributes['celery.state'] === 'RETRY' ? -1 : b.attributes['celery.state'] === 'RETRY' ? 1 : 0,
    ) as [ReadableSpan, ReadableSpan];
    const sends = named('apply_async/t.flaky');
    expect(sends).toHaveLength(2);
    const retrySend = sends.find((s) => parentOf(s) === first.spanContext().spanId);
    expect(first.attributes['celery.state']).toBe('RETRY');
    expect(String(first.attributes['celery.retry.reason'])).toMatch(/not yet/);
    expect(retrySend).toBeDefined();
    expect(parentOf(second)).toBe(retrySend?.spanContext().spanId);
    expect(second.attributes).toMatchObject({ 'celery.state': 'SUCCESS', 'celery.retries': 1 });
  });

  it('records a failure as an exception event with status ERROR; an expected one (throws) is not an error', async () => {
    class Known extends Error {
      override name = 'Known';
    }
    const { app, startWorker } = await tracedApp();
    const boom = app.task('t.boom', () => {
      throw new TypeError('bad input');
    });
    const known = app.task(
      't.known',
      () => {
        throw new Known('fine');
      },
      { throws: [Known] },
    );
    await startWorker();
    await (await boom.delay()).get({ timeout: 5 }).catch(() => null);
    await (await known.delay()).get({ timeout: 5 }).catch(() => null);
    await waitUntil(() => named('run/t.boom').length === 1 && named('run/t.known').length === 1);
    const failed = one('run/t.boom');
    expect(failed.status.code).toBe(api.SpanStatusCode.ERROR);
    expect(failed.attributes['celery.state']).toBe('FAILURE');
    const ev = failed.events.find((e) => e.name === 'exception');
    expect(ev?.attributes).toMatchObject({ 'exception.type': 'TypeError', 'exception.message': 'bad input' });
    const exp = one('run/t.known');
    expect(exp.status.code).toBe(api.SpanStatusCode.UNSET);
    expect(exp.events).toHaveLength(0);
  });

  it('gives a task revoked on arrival a REVOKED span with its reason', async () => {
    const { app, startWorker } = await tracedApp();
    const late = app.task('t.late', () => 'never');
    await startWorker();
    await late.applyAsync([], { expires: new Date(Date.now() - 1000) });
    await waitUntil(() => named('run/t.late').length === 1);
    expect(one('run/t.late').attributes).toMatchObject({
      'celery.state': 'REVOKED',
      'celery.revoked.reason': 'expired',
    });
  });

  it('makes each chain step a child of the run of the step that sent it', async () => {
    const { app, startWorker } = await tracedApp();
    const add = app.task('t.cadd', (x: number, y: number) => x + y);
    const mul = app.task('t.cmul', (x: number, y: number) => x * y);
    await startWorker();
    const r = await app.chain([add.s(1, 2), mul.s(10), add.s(5)]);
    expect(await r.get({ timeout: 5 })).toBe(35);
    await waitUntil(() => named('run/t.cadd').length === 2 && named('run/t.cmul').length === 1);
    const runAdd = named('run/t.cadd');
    const runMul = one('run/t.cmul');
    const sendMul = one('apply_async/t.cmul');
    const sendsAdd = named('apply_async/t.cadd');
    // First step: published by the client (root); the run under it sends mul; mul's run sends the last add.
    const firstSend = sendsAdd.find((s) => parentOf(s) === undefined) as ReadableSpan;
    const firstRun = runAdd.find((s) => parentOf(s) === firstSend.spanContext().spanId) as ReadableSpan;
    expect(firstRun).toBeDefined();
    expect(parentOf(sendMul)).toBe(firstRun.spanContext().spanId);
    expect(parentOf(runMul)).toBe(sendMul.spanContext().spanId);
    const lastSend = sendsAdd.find((s) => parentOf(s) === runMul.spanContext().spanId) as ReadableSpan;
    expect(lastSend).toBeDefined();
    const lastRun = runAdd.find((s) => s !== firstRun) as ReadableSpan;
    expect(parentOf(lastRun)).toBe(lastSend.spanContext().spanId);
    expect(new Set(spans().map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('makes a chord body a child of the run of the header task that completed the chord', async () => {
    const { app, startWorker } = await tracedApp();
    const add = app.task('t.hadd', (x: number, y: number) => x + y);
    const tsum = app.task('t.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    await startWorker();
    // Under one active span, as a web request would publish it: else each header task starts a trace.
    const root = provider.getTracer('test').startSpan('request');
    const r = await api.context.with(api.trace.setSpan(api.context.active(), root), () =>
      chord([add.s(1, 1), add.s(2, 2)], tsum.s()).delay(),
    );
    root.end();
    expect(await r.get({ timeout: 5 })).toBe(6);
    await waitUntil(() => named('run/t.tsum').length === 1 && named('run/t.hadd').length === 2);
    const headerRuns = named('run/t.hadd').map((s) => s.spanContext().spanId);
    const sendBody = one('apply_async/t.tsum');
    expect(headerRuns).toContain(parentOf(sendBody));
    expect(parentOf(one('run/t.tsum'))).toBe(sendBody.spanContext().spanId);
    expect(new Set(spans().map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('parents a publish made inside a running task on that task’s run', async () => {
    const { app, startWorker } = await tracedApp();
    const child = app.task('t.child', () => 'c');
    const parent = app.task('t.parent', async () => {
      await child.delay();
      return 'p';
    });
    await startWorker();
    await (await parent.delay()).get({ timeout: 5 });
    await waitUntil(() => named('run/t.child').length === 1);
    expect(parentOf(one('apply_async/t.child'))).toBe(one('run/t.parent').spanContext().spanId);
    expect(parentOf(one('run/t.child'))).toBe(one('apply_async/t.child').spanContext().spanId);
  });

  it('adds nothing to the message when tracing is not used', async () => {
    t = memoryApp({ taskDefaultQueue: uniq('q') });
    const { app } = t;
    app.task('t.plain', () => null);
    const broker = await app.broker();
    await app.sendTask('t.plain', []);
    const headers = await firstHeaders(broker, app.conf.taskDefaultQueue);
    expect(headers.traceparent).toBeUndefined();
    expect(headers.tracestate).toBeUndefined();
  });
});
