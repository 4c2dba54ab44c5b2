"""Python Celery's side of a trace, as opentelemetry-instrumentation-celery lays it out on the wire.

Python OpenTelemetry is not installable on this machine, so this module EMULATES the instrumentation's
header layout; it is not the library. What it copies, from the instrumentation's source
(opentelemetry-python-contrib, instrumentation/opentelemetry-instrumentation-celery/.../__init__.py):
  - injection: a `before_task_publish` receiver calls `inject(headers)` on the signal's `headers`, which
    in protocol v2 is the message's top-level headers dict; the default W3C propagator sets
    `traceparent` = 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, and `tracestate` only when the
    span's trace state is not empty;
  - extraction: `task_prerun` extracts from `task.request` with a getter that reads attributes, and a
    protocol v2 request's attributes are those same headers (`task.request.traceparent`).
Span ids are made here (random, as the SDK's RandomIdGenerator does); nothing is exported.
"""
import os
import threading

from celery import signals

_local = threading.local()


def new_trace_id():
    return os.urandom(16).hex()


def new_span_id():
    return os.urandom(8).hex()


def traceparent(trace_id, span_id, sampled=True):
    return f'00-{trace_id}-{span_id}-{"01" if sampled else "00"}'


class Span:
    """The current span of this thread (a web request, say): what the next publish is a child of."""

    def __init__(self, trace_id=None, tracestate=''):
        self.trace_id = trace_id or new_trace_id()
        self.span_id = new_span_id()
        self.tracestate = tracestate

    def __enter__(self):
        _local.span = self
        return self

    def __exit__(self, *exc):
        _local.span = None


#: What each publish under a span sent: (task id, producer span id), for the test to check.
published = []


@signals.before_task_publish.connect(weak=False)
def _inject(headers=None, **kwargs):
    parent = getattr(_local, 'span', None)
    if parent is None or headers is None:
        return
    # The instrumentation opens a PRODUCER span apply_async/<task> under the current one and injects it.
    producer = new_span_id()
    headers['traceparent'] = traceparent(parent.trace_id, producer)
    if parent.tracestate:
        headers['tracestate'] = parent.tracestate
    published.append((headers.get('id'), producer))


def incoming(request):
    """What the instrumentation's getter reads from a running task's request: (traceparent, tracestate)."""
    return getattr(request, 'traceparent', None), getattr(request, 'tracestate', None)
