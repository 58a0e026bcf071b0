"""Kombu (Celery's messaging library, over py-amqp: a second Python AMQP
client besides pika) used the way Celery applications use it: a durable
task exchange and priority queue with JSON bodies, SimpleQueue, broadcast
over a fanout exchange, purge and delete, and heartbeats.

The broker comes from $AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2F).
Checked against RabbitMQ 3.10 first:

    AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2F target/venv/bin/python -m pytest tests/python/test_kombu.py
"""

import os
import socket
import time
import uuid

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
TIMEOUT = 10.0  # failure guard for any single wait


def unique(prefix):
    return f"{prefix}-kombu-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def conn():
    with Connection(AMQP_URL, connect_timeout=TIMEOUT) as c:
        c.connect()
        yield c


def drain_until(conn, done):
    deadline = time.monotonic() + TIMEOUT
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for deliveries"
        conn.drain_events(timeout=TIMEOUT)


def test_celery_style_priority_task_queue(conn):
    exchange = Exchange(unique("tasks"), type="direct", durable=True)
    queue = Queue(unique("celery"), exchange, routing_key="celery", durable=True,
                  queue_arguments={"x-max-priority": 10})
    with conn.channel() as ch:
        producer = Producer(ch, exchange=exchange, routing_key="celery", serializer="json")
        for i in range(6):
            producer.publish({"task": "add", "args": [i, i]}, declare=[queue], priority=i,
                             delivery_mode=2, headers={"id": f"task-{i}"}, correlation_id=str(i))
    got = []

    def on_message(body, message):
        got.append((body, message.properties["priority"], message.headers["id"],
                    message.properties["correlation_id"], message.delivery_info["routing_key"],
                    message.content_type))
        message.ack()

    with Consumer(conn, queues=[queue], callbacks=[on_message], accept=["json"], prefetch_count=1):
        drain_until(conn, lambda: len(got) == 6)
    # All six were queued before the consumer started: highest priority first.
    assert got == [({"task": "add", "args": [i, i]}, i, f"task-{i}", str(i), "celery", "application/json")
                   for i in reversed(range(6))]
    with conn.channel() as ch:
        bound = queue.bind(ch)
        _, count, consumers = bound.queue_declare(passive=True)
        assert (count, consumers) == (0, 0)
        bound.delete()


def test_simple_queue_round_trip_and_qsize(conn):
    name = unique("simple")
    q = conn.SimpleQueue(name)
    try:
        for i in range(3):
            q.put({"n": i})
        deadline = time.monotonic() + TIMEOUT
        while q.qsize() < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert q.qsize() == 3
        bodies = []
        for _ in range(3):
            m = q.get(block=True, timeout=TIMEOUT)
            bodies.append(m.payload)
            m.ack()
        assert bodies == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert q.qsize() == 0
    finally:
        q.close()
        with conn.channel() as ch:
            Queue(name).bind(ch).delete()


def test_broadcast_reaches_every_bound_queue_and_purge_counts(conn):
    fanout = Exchange(unique("broadcast"), type="fanout", durable=False, auto_delete=True)
    queues = [Queue(unique(f"worker{i}"), fanout, auto_delete=True) for i in range(2)]
    with conn.channel() as ch:
        for q in queues:
            q.bind(ch).declare()
        producer = Producer(ch, exchange=fanout, serializer="json")
        for i in range(4):
            producer.publish({"shutdown": i})
        bound = [q.bind(ch) for q in queues]
        deadline = time.monotonic() + TIMEOUT
        while any(b.queue_declare(passive=True).message_count < 4 for b in bound):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # queue.purge answers with the number of messages it removed.
        assert [b.purge() for b in bound] == [4, 4]
        assert [b.queue_declare(passive=True).message_count for b in bound] == [0, 0]
        for b in bound:
            b.delete()


def test_heartbeats_keep_an_idle_connection_open():
    with Connection(AMQP_URL, heartbeat=2, connect_timeout=TIMEOUT) as c:
        c.connect()
        assert c.connection.heartbeat == 2, "the broker accepted the client's heartbeat"
        name = unique("hb")
        q = c.SimpleQueue(name)
        try:
            # Idle for three heartbeat intervals, reading and sending
            # heartbeats as py-amqp expects its user to: the broker's must
            # arrive, or heartbeat_check raises ConnectionForced.
            end = time.monotonic() + 6
            received = c.connection.bytes_recv
            while time.monotonic() < end:
                try:
                    c.drain_events(timeout=0.25)
                except socket.timeout:
                    pass
                c.heartbeat_check(rate=4)
            assert c.connection.bytes_recv > received, "the broker sent heartbeats"
            q.put("still here")
            m = q.get(block=True, timeout=TIMEOUT)
            assert m.payload == "still here"
            m.ack()
        finally:
            q.close()
            with c.channel() as ch:
                Queue(name).bind(ch).delete()
