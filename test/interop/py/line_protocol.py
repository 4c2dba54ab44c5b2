"""The drivers' line protocol with test/interop/harness.ts: one JSON request per stdin line,
`{"n": …, "op": …, …}`, one JSON answer per stdout line, `{"n", "ok": true, "value"}` or
`{"n", "ok": false, "message", "traceback"}` (an exception in an op fails that request only).
"""
import json
import sys
import traceback


def serve(ops):
    for line in sys.stdin:
        req = json.loads(line)
        try:
            out = {'n': req['n'], 'ok': True, 'value': ops[req['op']](req)}
        except Exception as exc:
            out = {'n': req['n'], 'ok': False, 'message': repr(exc), 'traceback': traceback.format_exc()}
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()
