"""Celery 5.2 anchor app for Celeriac's benchmarks.

Tasks: ``bench.noop``, ``bench.sleep1`` (``time.sleep(1)``, green under eventlet/gevent because the
``-P eventlet|gevent`` worker monkey-patches before importing this module), ``bench.fetch_feed(url)``
(requests with one keep-alive Session per process + xml.etree.ElementTree, returning the same summary
shape as Celeriac's ``fetchFeed``: ``{title, items, newest}``).

Broker and result backend come from ``BENCH_BROKER_URL`` and ``BENCH_BACKEND_URL``, each defaulting to
``BENCH_REDIS_URL`` (``redis://127.0.0.1:6379/13``); the harness sets them per case (RabbitMQ runs
``amqp://...`` with results in Redis).
Started by bench/run.ts as::

    /usr/bin/python3 -m celery -A celery_app worker -P eventlet -c 1000 -Q <unique queue> ...

It prints ``BENCH-READY`` on stdout when the consumer is ready, so the harness knows when to start.
"""

import os
import sys
import time

from celery import Celery
from celery.signals import worker_ready

from feed import fetch_feed as _fetch_feed

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
BROKER_URL = os.environ.get("BENCH_BROKER_URL") or REDIS_URL
BACKEND_URL = os.environ.get("BENCH_BACKEND_URL") or REDIS_URL

app = Celery("bench", broker=BROKER_URL, backend=BACKEND_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # Results are stored (the workloads measure the drain *with* results); keep them an hour, the
    # harness deletes the keys it made anyway.
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
)


@app.task(name="bench.noop")
def noop():
    return None


@app.task(name="bench.sleep1")
def sleep1():
    time.sleep(1)
    return None


@app.task(name="bench.fetch_feed")
def fetch_feed(url):
    return _fetch_feed(url)


@worker_ready.connect
def _announce_ready(**_kwargs):
    sys.stdout.write("BENCH-READY\n")
    sys.stdout.flush()
