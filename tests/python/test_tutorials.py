"""The six RabbitMQ tutorials, publisher confirms and a few error codes, via pika.

The broker comes from $AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2F).
Every test uses uniquely named queues/exchanges so that runs can share a broker.
"""

import os
import queue
import threading
import time
import uuid

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, UnroutableError

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


def drain(ch, queue_name):
    """basic.get (auto-ack) until get-empty; returns the bodies in order."""
    out = []
    while True:
        method, _props, body = ch.basic_get(queue_name, auto_ack=True)
        if method is None:
            return out
        out.append(body.decode())


def consume_n(ch, queue_name, n, auto_ack=True):
    """Consumes exactly n deliveries (failing after TIMEOUT of inactivity)."""
    got = []
    for method, props, body in ch.consume(queue_name, auto_ack=auto_ack, inactivity_timeout=TIMEOUT):
        assert method is not None, f"timed out after {len(got)} of {n} deliveries"
        got.append((method, props, body))
        if not auto_ack:
            ch.basic_ack(method.delivery_tag)
        if len(got) == n:
            break
    ch.cancel()
    return got


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


# --------------------------------------------------------------------------
# Tutorial 1: "Hello World!"
# --------------------------------------------------------------------------

def test_t1_hello_world(conn):
    ch = conn.channel()
    q = unique("hello")
    ok = ch.queue_declare(q)
    assert (ok.method.queue, ok.method.message_count, ok.method.consumer_count) == (q, 0, 0)
    ch.basic_publish(exchange="", routing_key=q, body=b"Hello World!")
    [(method, _props, body)] = consume_n(ch, q, 1)
    assert body == b"Hello World!"
    assert method.exchange == ""
    assert method.routing_key == q
    assert method.redelivered is False
    ch.queue_delete(q)


# --------------------------------------------------------------------------
# Tutorial 2: work queues (prefetch 1 fair dispatch, manual ack)
# --------------------------------------------------------------------------

def test_t2_work_queues_fair_dispatch(conn):
    n = 10
    ch = conn.channel()
    q = unique("task_queue")
    ch.queue_declare(q, durable=True)

    results = queue.Queue()
    stop = threading.Event()
    errors = []

    def worker(name, work_seconds, consuming):
        try:
            wconn = connect()
            wch = wconn.channel()
            wch.basic_qos(prefetch_count=1)

            def on_message(_ch, method, _props, body):
                time.sleep(work_seconds)  # simulated work, as in the tutorial
                wch.basic_ack(method.delivery_tag)
                results.put((name, body.decode(), method.redelivered))

            wch.basic_consume(q, on_message)  # returns after consume-ok
            consuming.set()
            while not stop.is_set():
                wconn.process_data_events(time_limit=0.05)
            wch.close()
            wconn.close()
        except Exception as e:  # surfaced by the main thread
            errors.append(e)
            consuming.set()

    threads = []
    for name, work in [("slow", 0.4), ("fast", 0.0)]:
        consuming = threading.Event()
        t = threading.Thread(target=worker, args=(name, work, consuming))
        t.start()
        threads.append(t)
        # Register slow first, then fast, before anything is published.
        assert consuming.wait(TIMEOUT), f"{name} worker never started consuming"
    assert not errors, errors

    props = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    for i in range(n):
        ch.basic_publish(exchange="", routing_key=q, body=f"task {i}".encode(), properties=props)

    got = [results.get(timeout=TIMEOUT) for _ in range(n)]
    stop.set()
    for t in threads:
        t.join(TIMEOUT)
    assert not errors, errors
    assert results.empty(), f"a task was delivered more than once: {list(results.queue)}"

    assert sorted(b for _, b, _ in got) == sorted(f"task {i}" for i in range(n))
    assert not any(r for _, _, r in got), got
    slow = sum(1 for w, _, _ in got if w == "slow")
    fast = sum(1 for w, _, _ in got if w == "fast")
    assert slow >= 1, got
    assert slow < fast, f"slow worker must get fewer tasks (slow={slow}, fast={fast})"
    assert ch.queue_declare(q, durable=True, passive=True).method.message_count == 0
    ch.queue_delete(q)


# --------------------------------------------------------------------------
# Tutorial 3: publish/subscribe
# --------------------------------------------------------------------------

def test_t3_publish_subscribe_fanout(conn):
    ch = conn.channel()
    ex = unique("logs")
    ch.exchange_declare(ex, exchange_type="fanout", auto_delete=True)
    names = []
    for _ in range(2):
        name = ch.queue_declare("", exclusive=True).method.queue
        assert name
        ch.queue_bind(name, ex)
        names.append(name)
    assert names[0] != names[1]

    messages = [f"log line {i}" for i in range(5)]
    for i, m in enumerate(messages):
        ch.basic_publish(exchange=ex, routing_key=f"ignored.{i}", body=m.encode())
    for name in names:
        got = consume_n(ch, name, len(messages))
        assert [b.decode() for _, _, b in got] == messages
        assert all(method.exchange == ex for method, _, _ in got)


# --------------------------------------------------------------------------
# Tutorial 4: routing
# --------------------------------------------------------------------------

def test_t4_routing_direct(conn):
    ch = conn.channel()
    ex = unique("direct_logs")
    ch.exchange_declare(ex, exchange_type="direct", auto_delete=True)
    errors_only = ch.queue_declare("", exclusive=True).method.queue
    everything = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(errors_only, ex, routing_key="error")
    for sev in ("info", "warning", "error"):
        ch.queue_bind(everything, ex, routing_key=sev)

    # With confirms each publish returns once the broker has routed it.
    ch.confirm_delivery()
    for sev, text in [
        ("info", "info: 1"),
        ("error", "error: 1"),
        ("warning", "warning: 1"),
        ("debug", "debug: nobody listens"),
        ("info", "info: 2"),
        ("error", "error: 2"),
    ]:
        ch.basic_publish(exchange=ex, routing_key=sev, body=text.encode())

    assert drain(ch, errors_only) == ["error: 1", "error: 2"]
    assert drain(ch, everything) == ["info: 1", "error: 1", "warning: 1", "info: 2", "error: 2"]


# --------------------------------------------------------------------------
# Tutorial 5: topics
# --------------------------------------------------------------------------

def test_t5_topics(conn):
    ch = conn.channel()
    ex = unique("topic_logs")
    ch.exchange_declare(ex, exchange_type="topic", auto_delete=True)
    q1 = ch.queue_declare("", exclusive=True).method.queue
    q2 = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q1, ex, routing_key="*.orange.*")
    ch.queue_bind(q2, ex, routing_key="*.*.rabbit")
    ch.queue_bind(q2, ex, routing_key="lazy.#")

    ch.confirm_delivery()
    for key in [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "orange",
        "quick.orange.male.rabbit",
        "lazy.orange.male.rabbit",
        "lazy",
    ]:
        ch.basic_publish(exchange=ex, routing_key=key, body=key.encode())

    assert drain(ch, q1) == ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]
    # lazy.pink.rabbit matches both of q2's bindings but arrives once;
    # "lazy" matches lazy.# because '#' matches zero words.
    assert drain(ch, q2) == [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "lazy.orange.male.rabbit",
        "lazy",
    ]


# --------------------------------------------------------------------------
# Tutorial 6: RPC
# --------------------------------------------------------------------------

def test_t6_rpc(conn):
    rpc_queue = unique("rpc_queue")
    ch = conn.channel()
    ch.queue_declare(rpc_queue)
    stop = threading.Event()
    errors = []

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
                n = int(body)
                sch.basic_publish(
                    exchange="",
                    routing_key=props.reply_to,
                    properties=pika.BasicProperties(correlation_id=props.correlation_id),
                    body=str(fib(n)).encode(),
                )
                sch.basic_ack(method.delivery_tag)
            sch.cancel()
            sconn.close()
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=server)
    t.start()
    try:
        callback = ch.queue_declare("", exclusive=True).method.queue
        replies = {}

        def on_reply(_ch, _method, props, body):
            replies[props.correlation_id] = body

        ch.basic_consume(callback, on_reply, auto_ack=True)
        for n in [0, 1, 2, 10, 20, 25]:
            corr = str(uuid.uuid4())
            ch.basic_publish(
                exchange="",
                routing_key=rpc_queue,
                properties=pika.BasicProperties(reply_to=callback, correlation_id=corr),
                body=str(n).encode(),
            )
            deadline = time.monotonic() + TIMEOUT
            while corr not in replies:
                assert time.monotonic() < deadline, f"no reply for fib({n})"
                assert not errors, errors
                conn.process_data_events(time_limit=0.05)
            assert list(replies) == [corr], f"unexpected replies {replies}"
            assert replies.pop(corr) == str(fib(n)).encode()
    finally:
        stop.set()
        t.join(TIMEOUT)
    assert not errors, errors
    ch.queue_delete(rpc_queue)


# --------------------------------------------------------------------------
# Publisher confirms
# --------------------------------------------------------------------------

def test_publisher_confirms_then_consume_in_order(conn):
    n = 200
    ch = conn.channel()
    q = unique("confirms")
    ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    persistent = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    # In confirm mode BlockingChannel.basic_publish waits for the broker's
    # confirm and raises NackError/UnroutableError unless it is an ack.
    for i in range(n):
        ch.basic_publish(exchange="", routing_key=q, body=f"message {i}".encode(), properties=persistent)
    assert ch.queue_declare(q, durable=True, passive=True).method.message_count == n

    got = consume_n(ch, q, n, auto_ack=False)
    assert [b.decode() for _, _, b in got] == [f"message {i}" for i in range(n)]
    assert all(p.delivery_mode == 2 for _, p, _ in got)
    assert not any(m.redelivered for m, _, _ in got)
    assert ch.queue_declare(q, durable=True, passive=True).method.message_count == 0
    ch.queue_delete(q)


# --------------------------------------------------------------------------
# Error behaviour
# --------------------------------------------------------------------------

def test_publish_to_missing_exchange_closes_channel_with_404(conn):
    ch = conn.channel()
    ch.basic_publish(exchange=unique("no-such-exchange"), routing_key="k", body=b"x")
    # The channel.close arrives asynchronously; the next synchronous call sees it.
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.queue_declare("", exclusive=True)
    assert exc.value.reply_code == 404
    assert exc.value.reply_text.startswith("NOT_FOUND")
    assert ch.is_closed
    # The connection survives a channel error.
    ch2 = conn.channel()
    assert ch2.queue_declare("", exclusive=True).method.queue


def test_redeclare_queue_with_other_durability_gives_406(conn):
    ch = conn.channel()
    q = unique("durability")
    ch.queue_declare(q, durable=False)
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.queue_declare(q, durable=True)
    assert exc.value.reply_code == 406
    assert exc.value.reply_text.startswith("PRECONDITION_FAILED")
    ch2 = conn.channel()
    assert ch2.queue_declare(q, passive=True).method.message_count == 0
    ch2.queue_delete(q)


def test_passive_declare_of_missing_queue_gives_404(conn):
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as exc:
        ch.queue_declare(unique("missing"), passive=True)
    assert exc.value.reply_code == 404


def test_mandatory_unroutable_publish_is_returned_with_312(conn):
    ch = conn.channel()
    ex = unique("no-bindings")
    ch.exchange_declare(ex, exchange_type="direct", auto_delete=True)
    ch.confirm_delivery()
    with pytest.raises(UnroutableError) as exc:
        ch.basic_publish(
            exchange=ex,
            routing_key="nowhere",
            body=b"undeliverable",
            properties=pika.BasicProperties(message_id="m-1"),
            mandatory=True,
        )
    [returned] = exc.value.messages
    assert returned.method.reply_code == 312
    assert returned.method.reply_text == "NO_ROUTE"
    assert returned.method.exchange == ex
    assert returned.method.routing_key == "nowhere"
    assert returned.body == b"undeliverable"
    assert returned.properties.message_id == "m-1"
    assert ch.is_open


def test_basic_get_on_empty_queue(conn):
    ch = conn.channel()
    q = unique("get")
    ch.queue_declare(q)
    assert ch.basic_get(q) == (None, None, None)
    ch.basic_publish(exchange="", routing_key=q, body=b"one")
    ch.basic_publish(exchange="", routing_key=q, body=b"two")
    method, _props, body = ch.basic_get(q)
    assert body == b"one"
    assert method.message_count == 1
    assert method.redelivered is False
    ch.basic_ack(method.delivery_tag)
    assert drain(ch, q) == ["two"]
    assert ch.basic_get(q) == (None, None, None)
    ch.queue_delete(q)


def test_nack_with_requeue_redelivers(conn):
    ch = conn.channel()
    q = unique("nack")
    ch.queue_declare(q)
    ch.basic_publish(exchange="", routing_key=q, body=b"try again")
    first, _, body = ch.basic_get(q)
    assert body == b"try again" and first.redelivered is False
    ch.basic_nack(first.delivery_tag, requeue=True)
    second, _, body = ch.basic_get(q)
    assert body == b"try again"
    assert second.redelivered is True
    assert second.delivery_tag != first.delivery_tag
    ch.basic_ack(second.delivery_tag)
    assert ch.basic_get(q) == (None, None, None)
    ch.queue_delete(q)
