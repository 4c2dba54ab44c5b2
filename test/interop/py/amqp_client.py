"""Python Celery 5.2 client for the AMQP interop tests: sends tasks to a Celeriac worker and reads the
results over rpc://, then prints one JSON object.

  amqp_client.py basic             every case at once
  amqp_client.py priorities QUEUE  sends 5 tasks with priorities, prints SENT, waits, prints the results
"""
import hashlib
import json
import sys
import time

from amqp_app import app

TIMEOUT = 30


def describe(exc, result):
    return {
        'type': type(exc).__name__,
        'module': type(exc).__module__,
        'args': [str(a) for a in exc.args],
        'is_exception': isinstance(exc, Exception),
        'state': result.state,
        'traceback': result.traceback,
    }


def expect_error(result):
    try:
        value = result.get(timeout=TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - we report whatever arrives
        return describe(exc, result)
    return {'unexpected_value': value}


def basic():
    out = {}
    out['add'] = app.send_task('interop.add', (2, 3)).get(timeout=TIMEOUT)
    out['kwargs'] = app.send_task('interop.add', (), {'x': 4, 'y': 6}).get(timeout=TIMEOUT)
    out['echo'] = app.send_task(
        'interop.echo', (1, 'héllo wörld ✓ 🎉', None, [1, 2.5]), {'x': {'a': [1, None]}, 'ü': 'ñ'}
    ).get(timeout=TIMEOUT)
    big = 'x' * (1024 * 1024)
    out['size'] = app.send_task('interop.size', (big,)).get(timeout=TIMEOUT)
    out['size_expected'] = [len(big), hashlib.sha256(big.encode()).hexdigest()]
    out['fail'] = expect_error(app.send_task('interop.fail', ('boom',)))
    out['fail_custom'] = expect_error(app.send_task('interop.fail_custom', ('kaput',)))
    out['flaky'] = app.send_task('interop.flaky').get(timeout=TIMEOUT)
    t0 = time.time()
    out['countdown'] = app.send_task('interop.when', countdown=2).get(timeout=TIMEOUT) - t0
    out['expired'] = expect_error(app.send_task('interop.add', (1, 1), countdown=2, expires=1))
    out['unknown'] = expect_error(app.send_task('interop.nope', (1,)))
    print(json.dumps(out))


def priorities(queue):
    rs = [app.send_task('interop.order', (p,), queue=queue, priority=p) for p in (1, 9, 5, 0, 7)]
    print('SENT', flush=True)
    print(json.dumps([r.get(timeout=60) for r in rs]), flush=True)


if __name__ == '__main__':
    if sys.argv[1] == 'basic':
        basic()
    else:
        priorities(sys.argv[2])
