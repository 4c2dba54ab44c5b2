"""Python Celery 5.2 / kombu side of the broadcast interop test (test/interop/broadcast.test.ts), over the
line protocol (line_protocol.py). Broker from INTEROP_BROKER; a Redis global_keyprefix from
INTEROP_KEYPREFIX.

  dispatch            app.events.Dispatcher sends one event (type, fields) on celeryev
  listen              start a thread consuming celeryev with an event receiver's queue, bound to '#'
  heard               the events that thread received: [{routing_key, body, headers, content_type}]
  control             app.control.broadcast(command, arguments, destination), without waiting for replies
  node_reply          kombu's Node.reply, as a Python worker answers a control request
  open_reply_queue    declare this client's pidbox reply queue (as Mailbox._publish does); returns the oid
  collect             Mailbox._collect: the replies for a ticket, as app.control.broadcast(reply=True)
"""
import os
import threading

from celery import Celery
from kombu import Consumer
from line_protocol import serve

options = {}
if os.environ.get('INTEROP_KEYPREFIX'):
    options['global_keyprefix'] = os.environ['INTEROP_KEYPREFIX']
app = Celery('broadcast_interop', broker=os.environ['INTEROP_BROKER'])
app.conf.broker_transport_options = options
app.conf.accept_content = ['json']

conn = app.connection_for_write()
# One bound mailbox for the whole run: its oid (the reply queue's routing key) depends on the instance.
mailbox = app.control.mailbox(conn)
heard = []
ready = threading.Event()


def dispatch(req):
    with app.events.Dispatcher(conn, hostname=req['hostname'], enabled=True) as d:
        d.send(req['type'], **req['fields'])
    return True


def _listen():
    with app.connection_for_read() as c:
        receiver = app.events.Receiver(c, handlers={})

        def on_message(body, message):
            heard.append({
                'routing_key': message.delivery_info.get('routing_key'),
                'body': body,
                'headers': message.headers,
                'content_type': message.content_type,
            })

        with Consumer(c, queues=[receiver.queue], callbacks=[on_message], no_ack=True, accept=['json']):
            ready.set()
            while True:
                try:
                    c.drain_events(timeout=1)
                except TimeoutError:
                    pass
                except OSError:  # socket.timeout on older Pythons
                    pass


def listen(req):
    threading.Thread(target=_listen, daemon=True).start()
    ready.wait(30)
    return True


def get_heard(req):
    return heard


def control(req):
    app.control.broadcast(req['command'], arguments=req.get('arguments'), destination=req.get('destination'),
                          connection=conn, reply=False)
    return True


def node_reply(req):
    node = app.control.mailbox.Node(req['hostname'], channel=conn.default_channel)
    node.reply(req['data'], exchange=req['exchange'], routing_key=req['routing_key'], ticket=req['ticket'])
    return True


def open_reply_queue(req):
    mailbox.reply_queue(conn.default_channel).declare()
    return mailbox.oid


def collect(req):
    return mailbox._collect(req['ticket'], limit=req.get('limit', 1), timeout=req.get('timeout', 5))


serve({
    'dispatch': dispatch,
    'listen': listen,
    'heard': get_heard,
    'control': control,
    'node_reply': node_reply,
    'open_reply_queue': open_reply_queue,
    'collect': collect,
})
