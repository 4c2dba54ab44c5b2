"""The Python worker's side of the cross-language trace test (test/interop/otel-redis.test.ts): a task
that reports the trace context it was called with, read where opentelemetry-instrumentation-celery's
getter reads it (`task.request.traceparent`; see otel_emulation.py). Same app and settings as pytasks.
"""
import sys

from otel_emulation import incoming
from pytasks import app


@app.task(name='otel.whoami', bind=True)
def whoami(self):
    traceparent, tracestate = incoming(self.request)
    print(f'otel.whoami[{self.request.id}] traceparent={traceparent} tracestate={tracestate}', file=sys.stderr)
    return {'traceparent': traceparent, 'tracestate': tracestate, 'parent_id': self.request.parent_id}
