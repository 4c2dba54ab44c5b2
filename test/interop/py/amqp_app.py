"""Celery 5.2 app for the AMQP interop tests (test/interop/amqp.test.ts).

Broker from INTEROP_BROKER (an amqp:// URL with the test's private vhost); results over rpc://.
Queues are declared with x-max-priority 10, as the Celeriac side is configured (maxPriority: 10).
"""
import hashlib
import os
import time

from celery import Celery

app = Celery('amqp_interop', broker=os.environ['INTEROP_BROKER'], backend='rpc://')
app.conf.update(
    task_default_queue=os.environ.get('INTEROP_QUEUE', 'celery'),
    task_queue_max_priority=10,
    worker_prefetch_multiplier=1,
    accept_content=['json'],
    task_serializer='json',
    result_serializer='json',
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name='interop.add')
def add(x, y):
    return x + y


@app.task(name='interop.echo')
def echo(*args, **kwargs):
    return {'args': list(args), 'kwargs': kwargs}


@app.task(name='interop.fail')
def fail(msg):
    raise ValueError(msg)


@app.task(name='interop.flaky', bind=True, max_retries=3)
def flaky(self):
    if self.request.retries < 2:
        raise self.retry(countdown=1)
    return self.request.retries


@app.task(name='interop.order')
def order(p):
    return [p, time.time()]


@app.task(name='interop.size')
def size(s):
    return [len(s), hashlib.sha256(s.encode('utf-8')).hexdigest()]


@app.task(name='interop.when')
def when():
    return time.time()
