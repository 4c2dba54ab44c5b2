"""Feed Celery 5.2's own celery.events.state.State (Flower's engine) from the events on a broker, then
print what it holds as one JSON line. Used by test/interop/events-*.test.ts.

    python3 event_state.py <broker-url> <hostname> <succeeded> <timeout-s>

Prints {"ready": true} once its receiver consumes, then runs until it has seen <succeeded> tasks in a
ready state and a heartbeat of <hostname> that reports at least that many processed (or until the
timeout), and prints {"workers": {...}, "tasks": {...}, "events": N, "timed_out": bool}.
"""
import json
import socket
import sys

from celery import Celery
from celery.events.state import State

url, hostname, want, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
app = Celery('event_state', broker=url)
state = State()
types = {}


class Receiver(app.events.Receiver):
    def on_consume_ready(self, *args, **kwargs):
        print(json.dumps({'ready': True}), flush=True)
        super().on_consume_ready(*args, **kwargs)


def done():
    ready = sum(1 for t in state.tasks.values() if t.ready)
    worker = state.workers.get(hostname)
    return ready >= want and worker is not None and (worker.processed or 0) >= want


def on_event(event):
    types[event['type']] = types.get(event['type'], 0) + 1
    state.event(event)
    if done():
        recv.should_stop = True


timed_out = False
with app.connection_for_read() as conn:
    recv = Receiver(conn, handlers={'*': on_event})
    try:
        recv.capture(limit=None, timeout=timeout, wakeup=True)
    except socket.timeout:
        timed_out = True

workers = {
    name: {'alive': w.alive, 'processed': w.processed, 'active': w.active, 'freq': w.freq,
           'sw_ident': w.sw_ident, 'sw_ver': w.sw_ver, 'loadavg': w.loadavg, 'pid': w.pid,
           'heartbeats': len(w.heartbeats)}
    for name, w in state.workers.items()
}
tasks = {
    uuid: {'state': t.state, 'name': t.name, 'args': t.args, 'kwargs': t.kwargs, 'result': t.result,
           'runtime': t.runtime, 'exception': t.exception, 'traceback': t.traceback,
           'worker': t.worker.hostname if t.worker else None, 'received': t.received,
           'started': t.started, 'succeeded': t.succeeded, 'failed': t.failed}
    for uuid, t in state.tasks.items()
}
print(json.dumps({'workers': workers, 'tasks': tasks, 'events': state.event_count, 'types': types,
                  'timed_out': timed_out}), flush=True)
