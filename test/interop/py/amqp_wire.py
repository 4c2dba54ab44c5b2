"""Raw py-amqp (Celery's AMQP client) side of the header-table tests in test/interop/amqp.test.ts.

  amqp_wire.py publish QUEUE   publish one message whose headers use py-amqp's own integer tags
  amqp_wire.py read QUEUE      basic_get one message and print its headers (with Python type names)
"""
import json
import os
import sys
from urllib.parse import unquote, urlparse

import amqp

HEADERS = {
    'big': 2 ** 40,
    'neg': -5,
    'short': 300,
    'arr': [None, 3.5, 'é', [1, 2]],
    'flag': True,
    'nested': {'x': [1, {'y': None}]},
    'timelimit': [None, None],
}


def connect():
    u = urlparse(os.environ['INTEROP_BROKER'])
    vhost = unquote(u.path[1:]) or '/'
    conn = amqp.Connection(f'{u.hostname}:{u.port or 5672}', userid=u.username or 'guest',
                           password=u.password or 'guest', virtual_host=vhost)
    conn.connect()
    return conn


def types(v):
    if isinstance(v, dict):
        return {k: types(x) for k, x in v.items()}
    if isinstance(v, list):
        return [types(x) for x in v]
    return type(v).__name__


def main(cmd, queue):
    conn = connect()
    ch = conn.channel()
    if cmd == 'publish':
        ch.basic_publish(amqp.Message(b'{}', content_type='application/json', application_headers=HEADERS),
                         exchange='', routing_key=queue)
        print(json.dumps(HEADERS))
    else:
        msg = ch.basic_get(queue, no_ack=True)
        headers = msg.headers if msg else None
        print(json.dumps({'headers': headers, 'types': types(headers)}))
    conn.close()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
