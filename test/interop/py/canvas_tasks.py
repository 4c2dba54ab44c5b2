"""Python Celery 5.2 app for the canvas interop tests (test/interop/canvas-redis.test.ts): the same task
names as the Celeriac side defines there. Started as a worker (`celery -A canvas_tasks worker ...`) for the
mixed chord, imported by canvas_driver.py as a client. Broker, backend and queue come from the environment.
"""
import os
import time

from celery import Celery

app = Celery('canvas_tasks', broker=os.environ['INTEROP_BROKER'], backend=os.environ['INTEROP_BACKEND'])
app.conf.update(
    task_default_queue=os.environ.get('INTEROP_QUEUE', 'celery'),
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    result_expires=600,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)


@app.task(name='canvas.add')
def add(x, y):
    return x + y


@app.task(name='canvas.mul')
def mul(x, y):
    return x * y


@app.task(name='canvas.tsum')
def tsum(xs):
    return sum(xs)


@app.task(name='canvas.fail')
def fail(msg):
    raise ValueError(msg)


@app.task(name='canvas.echo')
def echo(value):
    return value


@app.task(name='canvas.on_error')
def on_error(task_id):
    return task_id


@app.task(name='canvas.slow')
def slow(seconds, value):
    time.sleep(seconds)
    return value


@app.task(name='canvas.where')
def where(value):
    return ['py', value]
