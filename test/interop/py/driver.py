"""A Python Celery 5.2 client driven by the interop tests over stdin/stdout, one JSON object per line.

Request:  {"n": <seq>, "op": "send"|"get"|"group"|"group_get"|"state", ...}
Response: {"n": <seq>, "ok": true, "value": ...} or {"n": <seq>, "ok": false, "exc_type", "exc_module",
          "message", "traceback", "state"}
"""
import datetime

from celery import group
from celery.result import AsyncResult, GroupResult

from pytasks import app
from line_protocol import serve


def when(seconds):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)


def send(req):
    options = {}
    if 'countdown' in req:
        options['countdown'] = req['countdown']
    if 'eta_in' in req:
        options['eta'] = when(req['eta_in'])
    if 'expires_in' in req:
        options['expires'] = when(req['expires_in'])
    if 'priority' in req:
        options['priority'] = req['priority']
    if 'queue' in req:
        options['queue'] = req['queue']
    r = app.send_task(req['name'], args=req.get('args', []), kwargs=req.get('kwargs', {}), **options)
    return r.id


def get(req):
    r = AsyncResult(req['id'], app=app)
    try:
        return {'value': r.get(timeout=req.get('timeout', 30)), 'state': r.state}
    except Exception as exc:  # the task's error, re-raised by Celery
        return {
            'error': {
                'exc_type': type(exc).__name__,
                'exc_module': type(exc).__module__,
                'message': str(exc),
                'traceback': r.traceback,
                'state': r.state,
            }
        }


def group_apply(req):
    g = group(app.signature(req['name'], args=a) for a in req['argslist']).apply_async()
    if req.get('save'):
        g.save()
    return {'id': g.id, 'children': [c.id for c in g.results], 'value': g.get(timeout=req.get('timeout', 30))}


def group_get(req):
    g = GroupResult.restore(req['id'], app=app)
    if g is None:
        return None
    return {'children': [c.id for c in g.results], 'value': g.get(timeout=req.get('timeout', 30))}


OPS = {'send': send, 'get': get, 'group': group_apply, 'group_get': group_get}


if __name__ == '__main__':
    serve(OPS)
