"""RabbitMQ extensions as Python applications use them, via pika: quorum
queues declared like the current tutorials, RPC over direct reply-to, the
x-death header exactly as it arrives (field order and types included), a
Celery/kombu-style "inspect ping" over pidbox exchanges with auto-delete and
x-expires queues, and reject-publish nacks.

The broker comes from $AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2F).
No broker setup beyond the default guest user is needed. Checked against
RabbitMQ 3.10 first:

    AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2F target/venv/bin/python -m pytest tests/python/test_semantics.py

Tests marked xfail("warren bug: ...") pass (XPASS) on RabbitMQ.
"""

import datetime
import json
import os
import threading
import time
import uuid

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, NackError

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
TIMEOUT = 15.0  # failure guard for any single wait


def unique(prefix):
    return f"{prefix}-py-{uuid.uuid4().hex[:12]}"


def connect():
    params = pika.URLParameters(AMQP_URL)
    params.blocked_connection_timeout = TIMEOUT
    params.socket_timeout = TIMEOUT
    return pika.BlockingConnection(params)


@pytest.fixture
def conn():
    c = connect()
    yield c
    if c.is_open:
        c.close()


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def wait_get(ch, queue_name):
    """basic.get (auto-ack), polling until a message arrives."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        method, props, body = ch.basic_get(queue_name, auto_ack=True)
        if method is not None:
            return method, props, body
        assert time.monotonic() < deadline, f"no message in {queue_name}"
        time.sleep(0.01)


# --------------------------------------------------------------------------
# Quorum queues, declared as the current RabbitMQ tutorials do
# --------------------------------------------------------------------------

def test_quorum_work_queue_like_the_tutorial(conn):
    q = unique("task_queue")
    ch = conn.channel()
    ok = ch.queue_declare(queue=q, durable=True, arguments={"x-queue-type": "quorum"})
    assert (ok.method.queue, ok.method.message_count, ok.method.consumer_count) == (q, 0, 0)
    ch.confirm_delivery()
    for i in range(5):
        ch.basic_publish(
            exchange="",
            routing_key=q,
            body=f"task {i}".encode(),
            properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
        )
    assert ch.queue_declare(queue=q, durable=True, passive=True).method.message_count == 5

    ch.basic_qos(prefetch_count=1)
    got = []
    for method, props, body in ch.consume(q, inactivity_timeout=TIMEOUT):
        assert method is not None, "timed out"
        assert props.delivery_mode == 2
        got.append(body.decode())
        ch.basic_ack(delivery_tag=method.delivery_tag)
        if len(got) == 5:
            break
    ch.cancel()
    assert got == [f"task {i}" for i in range(5)]

    # A worker that forgets the arguments cannot redeclare it.
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.queue_declare(queue=q, durable=True)
    assert exc.value.reply_code == 406
    assert exc.value.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '{q}' in vhost '/': "
        "received none but current is the value 'quorum' of type 'longstr'"
    )
    ch = conn.channel()
    ch.queue_delete(q)


def test_quorum_x_delivery_count_on_get_and_consume(conn):
    q = unique("qq")
    ch = conn.channel()
    ch.queue_declare(queue=q, durable=True, arguments={"x-queue-type": "quorum"})
    ch.confirm_delivery()
    ch.basic_publish("", q, b"retry me")
    seen = []
    for _ in range(3):
        method, props, body = wait_get_noack(ch, q)
        seen.append((props.headers.get("x-delivery-count"), method.redelivered))
        ch.basic_nack(method.delivery_tag, requeue=True)
    # basic.get: the header is there from the first delivery on.
    assert seen == [(0, False), (1, True), (2, True)]
    # To a consumer: the count goes on (3, 4)...
    seen = []
    for method, props, body in ch.consume(q, inactivity_timeout=TIMEOUT):
        assert method is not None, "timed out"
        seen.append((props.headers, method.redelivered))
        ch.basic_nack(method.delivery_tag, requeue=len(seen) < 2)
        if len(seen) == 2:
            break
    ch.cancel()
    assert seen == [({"x-delivery-count": 3}, True), ({"x-delivery-count": 4}, True)]
    # ...but surprisingly, a consumer's *first* delivery carries no
    # x-delivery-count at all in RabbitMQ 3.10 (basic.get adds 0).
    ch.basic_publish("", q, b"fresh")
    for method, props, body in ch.consume(q, inactivity_timeout=TIMEOUT):
        assert method is not None, "timed out"
        assert (body, props.headers, method.redelivered) == (b"fresh", None, False)
        ch.basic_ack(method.delivery_tag)
        break
    ch.cancel()
    ch.queue_delete(q)


def wait_get_noack(ch, queue_name):
    deadline = time.monotonic() + TIMEOUT
    while True:
        method, props, body = ch.basic_get(queue_name, auto_ack=False)
        if method is not None:
            return method, props, body
        assert time.monotonic() < deadline, f"no message in {queue_name}"
        time.sleep(0.01)


# --------------------------------------------------------------------------
# RPC over direct reply-to
# --------------------------------------------------------------------------

def test_rpc_over_direct_reply_to(conn):
    rpc_queue = unique("rpc_queue")
    ch = conn.channel()
    ch.queue_declare(rpc_queue)
    stop = threading.Event()
    errors = []
    reply_tos = []

    def server():
        try:
            sconn = connect()
            sch = sconn.channel()
            sch.basic_qos(prefetch_count=1)
            for method, props, body in sch.consume(rpc_queue, inactivity_timeout=0.05):
                if method is None:
                    if stop.is_set():
                        break
                    continue
                reply_tos.append(props.reply_to)
                sch.basic_publish(
                    exchange="",
                    routing_key=props.reply_to,
                    properties=pika.BasicProperties(correlation_id=props.correlation_id),
                    body=str(fib(int(body))).encode(),
                )
                sch.basic_ack(method.delivery_tag)
            sch.cancel()
            sconn.close()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=server)
    t.start()
    try:
        replies = {}

        def on_reply(_ch, method, props, body):
            replies[props.correlation_id] = (method.routing_key, body)

        # Consume from the pseudo-queue first, no-ack, then publish.
        ch.basic_consume("amq.rabbitmq.reply-to", on_reply, auto_ack=True)
        for n in [0, 1, 10, 20]:
            corr = str(uuid.uuid4())
            ch.basic_publish(
                exchange="",
                routing_key=rpc_queue,
                properties=pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id=corr),
                body=str(n).encode(),
            )
            deadline = time.monotonic() + TIMEOUT
            while corr not in replies:
                assert time.monotonic() < deadline, f"no reply for fib({n})"
                assert not errors, errors
                conn.process_data_events(time_limit=0.05)
            key, body = replies.pop(corr)
            assert body == str(fib(n)).encode()
            # The reply is delivered with the generated reply-to as its key.
            assert key == reply_tos[-1]
            assert key.startswith("amq.rabbitmq.reply-to.")
        # The same channel gets the same generated address every time.
        assert len(set(reply_tos)) == 1
    finally:
        stop.set()
        t.join(TIMEOUT)
    assert not errors, errors
    ch.queue_delete(rpc_queue)


def test_direct_reply_to_needs_a_consumer_first(conn):
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.basic_publish(
            "", "anything", b"x", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to")
        )
        ch.queue_declare("", exclusive=True)  # a round trip to see the close
    assert (exc.value.reply_code, exc.value.reply_text) == (
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    )


# --------------------------------------------------------------------------
# The x-death header as it arrives on the wire
# --------------------------------------------------------------------------

def test_x_death_fields_order_and_types(conn):
    ch = conn.channel()
    ch.confirm_delivery()
    src, dst = unique("dl-src"), unique("dl-dst")
    ch.queue_declare(dst)
    ch.queue_declare(
        src,
        arguments={
            "x-message-ttl": 30,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dst,
        },
    )
    before = int(time.time())
    ch.basic_publish("", src, b"one", pika.BasicProperties(headers={"app": "demo"}, expiration="10"))
    method, props, body = wait_get(ch, dst)
    after = int(time.time())
    assert body == b"one"
    assert (method.exchange, method.routing_key) == ("", dst)
    assert props.expiration is None
    # Field order on the wire: the original headers first, then x-death and
    # the x-first-death-* headers (pika keeps table order).
    assert list(props.headers) == [
        "app",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
    ]
    (death,) = props.headers["x-death"]
    assert list(death) == ["count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration"]
    assert death["count"] == 1
    assert death["reason"] == b"expired" or death["reason"] == "expired"
    assert death["queue"] == src
    assert isinstance(death["time"], datetime.datetime), type(death["time"])
    ts = int(death["time"].replace(tzinfo=datetime.timezone.utc).timestamp())
    assert before - 1 <= ts <= after + 1
    assert death["exchange"] == ""
    assert death["routing-keys"] == [src]
    assert death["original-expiration"] == "10"
    assert props.headers["x-first-death-exchange"] == ""
    assert props.headers["x-first-death-queue"] == src
    assert props.headers["x-first-death-reason"] == "expired"
    ch.queue_delete(src)
    ch.queue_delete(dst)


# --------------------------------------------------------------------------
# Celery/kombu-style remote control ("celery inspect ping")
# --------------------------------------------------------------------------

def test_kombu_style_pidbox_ping(conn):
    """A worker's pidbox queue bound to a fanout exchange, a client's reply
    queue on a direct reply exchange, both auto-delete with x-expires and
    x-message-ttl as kombu declares them."""
    app = unique("app")
    pidbox_x = f"{app}.pidbox"
    reply_x = f"reply.{app}.pidbox"
    worker_q = f"celery@worker1.{app}.pidbox"
    ticket = str(uuid.uuid4())
    reply_q = f"{uuid.uuid4()}.reply.{app}.pidbox"
    kombu_args = {"x-message-ttl": 300000, "x-expires": 10000}

    # The worker.
    wconn = connect()
    try:
        wch = wconn.channel()
        wch.exchange_declare(pidbox_x, exchange_type="fanout", durable=False, auto_delete=False)
        wch.queue_declare(worker_q, durable=False, auto_delete=True, arguments=kombu_args)
        wch.queue_bind(worker_q, pidbox_x)
        wch.basic_qos(prefetch_count=0)

        # The client ("celery inspect ping").
        ch = conn.channel()
        ch.exchange_declare(reply_x, exchange_type="direct", durable=False, auto_delete=False)
        ch.queue_declare(reply_q, durable=False, auto_delete=True, arguments=kombu_args)
        ch.queue_bind(reply_q, reply_x, routing_key=ticket)
        request = {
            "method": "ping",
            "arguments": {},
            "destination": None,
            "pattern": None,
            "matcher": None,
            "ticket": ticket,
            "reply_to": {"exchange": reply_x, "routing_key": ticket},
        }
        ch.basic_publish(
            pidbox_x,
            "",
            json.dumps(request).encode(),
            pika.BasicProperties(
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=1,
                headers={"clock": 1, "expires": int(time.time()) + 1},
            ),
        )

        # The worker answers to the reply exchange with the ticket.
        method, props, body = next(wch.consume(worker_q, inactivity_timeout=TIMEOUT))
        assert method is not None, "worker got no request"
        req = json.loads(body)
        assert req["method"] == "ping" and props.headers["clock"] == 1
        wch.basic_ack(method.delivery_tag)
        wch.basic_publish(
            req["reply_to"]["exchange"],
            req["reply_to"]["routing_key"],
            json.dumps({"celery@worker1": {"ok": "pong"}}).encode(),
            pika.BasicProperties(content_type="application/json", headers={"ticket": ticket}),
        )
        wch.cancel()

        method, props, body = next(ch.consume(reply_q, inactivity_timeout=TIMEOUT))
        assert method is not None, "client got no reply"
        assert json.loads(body) == {"celery@worker1": {"ok": "pong"}}
        assert props.headers == {"ticket": ticket}
        assert (method.exchange, method.routing_key) == (reply_x, ticket)
        ch.cancel()

        # Auto-delete queues go away with their last consumer.
        for q in (worker_q, reply_q):
            probe = conn.channel()
            with pytest.raises(ChannelClosedByBroker) as exc:
                probe.queue_declare(q, passive=True)
            assert (exc.value.reply_code, exc.value.reply_text) == (
                404,
                f"NOT_FOUND - no queue '{q}' in vhost '/'",
            )
        ch = conn.channel()
        ch.exchange_delete(pidbox_x)
        ch.exchange_delete(reply_x)
    finally:
        if wconn.is_open:
            wconn.close()


# --------------------------------------------------------------------------
# reject-publish: confirms become nacks
# --------------------------------------------------------------------------

def test_reject_publish_raises_nack_error(conn):
    q = unique("bounded")
    ch = conn.channel()
    ch.queue_declare(q, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    ch.confirm_delivery()
    ch.basic_publish("", q, b"1")
    ch.basic_publish("", q, b"2")
    with pytest.raises(NackError):
        ch.basic_publish("", q, b"3")
    assert ch.queue_declare(q, passive=True).method.message_count == 2
    method, _props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"1"
    ch.basic_publish("", q, b"4")
    assert [ch.basic_get(q, auto_ack=True)[2] for _ in range(2)] == [b"2", b"4"]
    ch.queue_delete(q)
