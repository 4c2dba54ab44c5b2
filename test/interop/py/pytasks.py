"""Python Celery 5.2 app for the interop tests: the same task names as test/interop/app.ts.

Started by the tests as a worker (`celery -A pytasks worker -P eventlet|prefork ...`) and imported by
driver.py as a client. Broker, backend and default queue come from the environment.
"""
import hashlib
import os
import time

from celery import Celery

app = Celery(
    'pytasks',
    broker=os.environ['INTEROP_BROKER'],
    backend=os.environ['INTEROP_BACKEND'],
)
app.conf.update(
    task_default_queue=os.environ.get('INTEROP_QUEUE', 'celery'),
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    result_expires=600,
    worker_prefetch_multiplier=1,
    broker_transport_options={'visibility_timeout': int(os.environ.get('INTEROP_VISIBILITY', '3600'))},
    worker_hijack_root_logger=False,
)


@app.task(name='interop.add')
def add(x, y):
    return x + y


@app.task(name='interop.kwargs')
def kwargs_task(a, b=None, c=None):
    return [a, b, c]


@app.task(name='interop.fail')
def fail(msg):
    raise ValueError(msg)


@app.task(name='interop.retry', bind=True, max_retries=5)
def retry(self, succeed_after):
    if self.request.retries < succeed_after:
        raise self.retry(countdown=0.2)
    return self.request.retries


@app.task(name='interop.when')
def when():
    return time.time()


@app.task(name='interop.size')
def size(data):
    return {'len': len(data), 'sha256': hashlib.sha256(data.encode('utf-8')).hexdigest()}


@app.task(name='interop.echo')
def echo(value):
    return value


@app.task(name='interop.block', track_started=True, acks_late=True)
def block(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name='interop.order')
def order(tag):
    return [tag, time.time()]


# Canvas (test/interop/canvas-client-redis.test.ts): a Celeriac client builds the workflow, this worker runs it.

@app.task(name='interop.mul')
def mul(x, y):
    return x * y


@app.task(name='interop.double')
def double(x):
    return x * 2


@app.task(name='interop.tsum')
def tsum(xs):
    return sum(xs)


@app.task(name='interop.on_error')
def on_error(request, exc, traceback, key):
    """A new-style errback (more than one positional argument): Celery 5.2 calls it in this worker's
    process with (request, exc, traceback), so it leaves its evidence in the result store under `key`."""
    import json
    app.backend.client.set(key, json.dumps({'id': request.id, 'exc': repr(exc), 'traceback': bool(traceback)}),
                           ex=600)


@app.task(name='interop.errback_id')
def errback_id(task_id):
    """An old-style errback (one argument): sent as a task with the failed task's id."""
    return 'errback saw ' + task_id
