"""A Python Celery 5.2 client that starts a trace, for the cross-language trace test: each `send_traced`
publishes under a new span of a new trace (a web request, say), with the trace context injected where
opentelemetry-instrumentation-celery injects it (otel_emulation.py: an emulation of its header layout,
since Python OpenTelemetry is not installable here). Line protocol: line_protocol.py.
"""
from celery.result import AsyncResult

import otel_emulation
from line_protocol import serve
from otel_tasks import app


def send_traced(req):
    with otel_emulation.Span(tracestate=req.get('tracestate', '')) as span:
        r = app.send_task(req['name'], args=req.get('args', []), queue=req['queue'])
    task_id, producer = otel_emulation.published[-1]
    return {'id': r.id, 'trace_id': span.trace_id, 'request_span_id': span.span_id,
            'producer_span_id': producer, 'sent_id': task_id}


def get(req):
    return AsyncResult(req['id'], app=app).get(timeout=req.get('timeout', 30))


if __name__ == '__main__':
    serve({'send_traced': send_traced, 'get': get})
