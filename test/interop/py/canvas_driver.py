"""A Python Celery 5.2 client for the canvas interop tests, driven over stdin/stdout like driver.py: each
request builds one canvas with Celery's own primitives, applies it and answers with what Python reads
back (values, states, children, errors).
"""
import uuid

from celery import chain, chord, group, signature
from celery.result import AsyncResult

from canvas_tasks import add, app, echo, fail, mul, on_error, slow, tsum, where
from line_protocol import serve

T = 30


def error_of(exc, r=None):
    return {'exc_type': type(exc).__name__, 'exc_module': type(exc).__module__, 'message': str(exc),
            'state': r.state if r is not None else None}


def op_chain(req):
    r = chain(add.s(1, 2), add.s(3), mul.s(10)).apply_async()
    return {'value': r.get(timeout=T), 'parent': r.parent.get(timeout=T)}


def op_group(req):
    g = group(add.s(i, i) for i in range(4)).apply_async()
    return {'value': g.get(timeout=T)}


def op_chord(req):
    r = chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)])(tsum.s())
    return {'value': r.get(timeout=T)}


def op_chain_group(req):
    r = chain(add.s(1, 1), group(mul.s(2), mul.s(3)), tsum.s()).apply_async()
    return {'value': r.get(timeout=T)}


def op_link(req):
    r = add.apply_async((2, 2), link=echo.s())
    value = r.get(timeout=T)
    children = AsyncResult(r.id, app=app).children
    return {'value': value, 'children': [c.get(timeout=T) for c in children],
            'raw_children': app.backend.get_task_meta(r.id)['children']}


def op_replace(req):
    # canvas.shim exists only on the Celeriac worker: it replaces itself with add(x, 100), and the chain
    # goes on from the replacement's result.
    r = chain(add.s(1, 2), signature('canvas.shim'), mul.s(10)).apply_async()
    return {'value': r.get(timeout=T)}


def op_link_error_new(req):
    # canvas.on_error_new is a new-style errback on the Celeriac worker: called there, not sent.
    r = fail.apply_async(('boom',), link_error=signature('canvas.on_error_new', args=('k',)))
    try:
        r.get(timeout=T)
    except Exception:
        pass
    return {'failed_id': r.id}


def op_link_error(req):
    eid = str(uuid.uuid4())
    r = fail.apply_async(('boom',), link_error=on_error.s().set(task_id=eid))
    try:
        r.get(timeout=T)
        err = None
    except Exception as exc:
        err = error_of(exc, r)
    return {'error': err, 'errback': AsyncResult(eid, app=app).get(timeout=T), 'failed_id': r.id}


def op_chunks(req):
    g = add.chunks([(1, 1), (2, 2), (3, 3)], 2).apply_async()
    return {'value': g.get(timeout=T)}


def op_starmap(req):
    r = add.starmap([(1, 2), (3, 4)]).apply_async()
    return {'value': r.get(timeout=T)}


def op_chord_fail(req):
    r = chord([add.s(1, 1), fail.s('header-boom')])(tsum.s())
    try:
        r.get(timeout=T)
        err = None
    except Exception as exc:
        err = error_of(exc, r)
    # get() raised as soon as the member failed (it follows the body's parents): wait for the body itself.
    r.get(timeout=T, propagate=False, follow_parents=False)
    meta = app.backend.get_task_meta(r.id)
    res = meta['result']  # the exception Celery rebuilt from the stored triple
    return {'error': err, 'body_state': meta['status'],
            'body_result': {'exc_type': type(res).__name__, 'exc_module': type(res).__module__,
                            'exc_message': [str(a) for a in getattr(res, 'args', [])]}}


def op_mixed_chord(req):
    """Header members alternate between the Python queue and ours; the body runs on ours."""
    pyq, tsq = req['pyq'], req['tsq']
    header = []
    for i in range(req['size']):
        q = pyq if i % 2 == 0 else tsq
        header.append(slow.si(0.05 * (i % 3), i).set(queue=q))
    body = signature('canvas.body_once', app=app).set(queue=tsq)
    r = chord(header)(body)
    return {'value': r.get(timeout=T), 'id': r.id, 'group': r.parent.id}


OPS = {k[3:]: v for k, v in globals().items() if k.startswith('op_')}


if __name__ == '__main__':
    serve(OPS)
