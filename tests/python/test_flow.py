"""Publishers next to stuck and slow consumers, and a flood into the memory
alarm, via pika with 4 s heartbeats, as RabbitMQ behaves:

* a queue whose only consumer never acks keeps accepting; the publisher
  stays connected (its heartbeats are answered) and can publish anywhere;
  once the consumer acks, every message arrives once, in order;
* the same with a consumer that is merely slow;
* with no consumer, a flood ends in connection.blocked at the memory
  watermark (the connection shows `blocked` in the management API and is
  not dropped for missed heartbeats while it is not read), and in
  connection.unblocked once a consumer has drained the queue.

The broker comes from $AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2F).
The flood needs a broker with a low memory watermark: with $WARREN_BIN set
(as `cargo xtask test` does) the test starts its own warren with
`--memory-high-watermark 64MiB`; or give it one in $FLOOD_AMQP_URL and
$FLOOD_HTTP_URL. Checked against RabbitMQ 3.10 first:

    AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2F target/venv/bin/python -m pytest tests/python/test_flow.py

(for the flood, a RabbitMQ with `vm_memory_high_watermark.absolute = 200MB`
in its rabbitmq.conf and the management plugin, as FLOOD_AMQP_URL and
FLOOD_HTTP_URL).
"""

import base64
import contextlib
import json
import os
import struct
import threading
import time
import urllib.parse
import urllib.request
import uuid

import pika
import pytest

from own_broker import start_warren

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
HEARTBEAT = 4
TIMEOUT = 60.0  # failure guard for any single wait
COUNT = 40_000


def unique(prefix):
    return f"{prefix}-py-{uuid.uuid4().hex[:12]}"


def connect(url):
    params = pika.URLParameters(url)
    params.heartbeat = HEARTBEAT
    params.blocked_connection_timeout = None
    params.socket_timeout = 15
    return pika.BlockingConnection(params)


def body(i, size=16):
    return struct.pack(">Q", i) + bytes(size - 8)


def seq(b):
    return struct.unpack(">Q", b[:8])[0]


def wait_for(what, done, conn, timeout=TIMEOUT):
    """Waits for `done()`, keeping `conn` (owned by this thread) serviced so
    its heartbeats go out."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        conn.sleep(0.05)


class Consumer(threading.Thread):
    """Consumes a queue on its own connection and thread. Until `release`
    is set it acks each delivery after `delay` seconds, or never with
    `delay=None` (a stuck consumer); after that, at once."""

    def __init__(self, url, queue, prefetch, delay):
        super().__init__(daemon=True)
        self.conn = connect(url)
        self.ch = self.conn.channel()
        self.ch.basic_qos(prefetch_count=prefetch)
        self.ch.basic_consume(queue, self._on_message)
        self.bodies = []
        self.unacked = []
        self.delay = delay
        self.release = threading.Event()
        self.stop = threading.Event()
        self.error = None

    def _on_message(self, _ch, method, _props, payload):
        self.bodies.append(payload)
        self.unacked.append(method.delivery_tag)

    def run(self):
        try:
            while not self.stop.is_set():
                self.conn.process_data_events(time_limit=0.02)
                if self.unacked and self.release.is_set():
                    self.ch.basic_ack(self.unacked[-1], multiple=True)
                    self.unacked.clear()
                elif self.unacked and self.delay is not None:
                    time.sleep(self.delay)
                    self.ch.basic_ack(self.unacked.pop(0))
            self.conn.close()
        except Exception as e:  # reported by the test
            self.error = e


def publish_all(ch, queue, count, size=16):
    for i in range(count):
        ch.basic_publish("", queue, body(i, size))


def message_count(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def publish_next_to(delay):
    """Publishes COUNT messages into a queue whose consumer acks after
    `delay` (None: never); returns what the test checks."""
    q, other = unique("backlog"), unique("elsewhere")
    pub = connect(AMQP_URL)
    ch = pub.channel()
    ch.queue_declare(q)
    ch.queue_declare(other)
    consumer = Consumer(AMQP_URL, q, prefetch=1 if delay is None else 10, delay=delay)
    consumer.start()
    try:
        t0 = time.monotonic()
        publish_all(ch, q, COUNT)
        took = time.monotonic() - t0
        consumed_then = len(consumer.bodies)
        backlog = message_count(ch, q)
        if delay is None:
            # RabbitMQ may still be taking the last publishes in.
            wait_for("the backlog", lambda: message_count(ch, q) == COUNT - 1, pub, timeout=10)
            backlog = message_count(ch, q)
        # Three heartbeat intervals of idling: the publisher is alive and is
        # treated as alive.
        pub.sleep(3 * HEARTBEAT)
        assert pub.is_open, "the publisher was disconnected"
        # It publishes to other queues as before.
        ch.basic_publish("", other, b"still here")
        method, _, got = ch.basic_get(other, auto_ack=True)
        assert method is not None and got == b"still here"
        consumer.release.set()
        wait_for(f"{COUNT} deliveries", lambda: len(consumer.bodies) >= COUNT or consumer.error, pub)
        assert consumer.error is None, consumer.error
        wait_for("the queue to empty", lambda: message_count(ch, q) == 0 and not consumer.unacked, pub)
        assert [seq(b) for b in consumer.bodies] == list(range(COUNT))
        assert pub.is_open
        return took, backlog, consumed_then
    finally:
        consumer.stop.set()
        consumer.join(TIMEOUT)
        if pub.is_open:
            ch.queue_delete(q)
            ch.queue_delete(other)
            pub.close()


def test_a_stuck_consumer_does_not_stop_or_disconnect_the_publisher():
    took, backlog, consumed = publish_next_to(None)
    # All but the one unacked delivery wait in the queue.
    assert consumed == 1
    assert backlog == COUNT - 1, f"{backlog} ready after publishing (took {took:.1f}s)"


def test_a_slow_consumer_does_not_hold_the_publisher_back():
    took, backlog, consumed = publish_next_to(0.002)
    # The publisher got far ahead of the consumer: the queue absorbed it.
    assert consumed < COUNT // 2, f"the consumer kept up ({consumed} consumed in {took:.1f}s)"
    assert backlog > COUNT // 2, f"only {backlog} ready after publishing"


# --------------------------------------------------------------------------
# A flood with no consumer: blocked at the memory watermark
# --------------------------------------------------------------------------

FLOOD_BODY = 8192
FLOOD_LIMIT = 2_000_000  # failure guard: the alarm must come long before


@pytest.fixture
def low_memory_broker():
    if os.environ.get("FLOOD_AMQP_URL"):
        yield os.environ["FLOOD_AMQP_URL"], os.environ.get("FLOOD_HTTP_URL")
    elif os.environ.get("WARREN_BIN"):
        with start_warren(["--memory-high-watermark", "64MiB"]) as urls:
            yield urls
    else:
        pytest.skip("needs $WARREN_BIN or a broker with a low memory watermark in $FLOOD_AMQP_URL")


def api_connections(http, user="guest", password="guest"):
    req = urllib.request.Request(http.rstrip("/") + "/api/connections")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=15) as r:
        return json.load(r)


class Flooder(threading.Thread):
    """Publishes batches until told to stop, as a well-behaved publisher:
    it pauses while the broker says it is blocked."""

    def __init__(self, url, queue):
        super().__init__(daemon=True)
        self.conn = connect(url)
        self.ch = self.conn.channel()
        self.queue = queue
        self.events = []
        self.conn.add_on_connection_blocked_callback(lambda _c, f: self.events.append(("blocked", f.method.reason)))
        self.conn.add_on_connection_unblocked_callback(lambda _c, _f: self.events.append(("unblocked", None)))
        self.sent = 0
        self.stop = threading.Event()
        self.error = None

    def blocked(self):
        return bool(self.events) and self.events[-1][0] == "blocked"

    def run(self):
        try:
            while not self.stop.is_set() and self.sent < FLOOD_LIMIT:
                if self.blocked():
                    self.conn.process_data_events(time_limit=0.1)
                    continue
                for _ in range(100):
                    self.ch.basic_publish("", self.queue, body(self.sent, FLOOD_BODY))
                    self.sent += 1
                self.conn.process_data_events(time_limit=0)
            self.conn.process_data_events(time_limit=0.1)
        except Exception as e:  # reported by the test
            self.error = e


def test_a_flood_is_blocked_at_the_memory_watermark_and_unblocked_after_a_drain(low_memory_broker):
    url, http = low_memory_broker
    q = unique("flood")
    setup = connect(url)
    sch = setup.channel()
    sch.queue_declare(q)
    flooder = Flooder(url, q)
    flooder.start()
    try:
        wait_for("connection.blocked", lambda: flooder.events or flooder.error or not flooder.is_alive(), setup)
        assert flooder.error is None, flooder.error
        assert flooder.events[0][0] == "blocked", flooder.events
        assert "memory" in flooder.events[0][1].lower(), flooder.events
        sent_at_block = flooder.sent
        if http:
            # RabbitMQ refreshes connection stats every 5 s.
            def states():
                return [c.get("state") for c in api_connections(http) if c["client_properties"].get("product") == "Pika Python Client Library"]
            wait_for("the publisher to show as blocked", lambda: "blocked" in states(), setup, timeout=15)
        # Blocked for three heartbeat intervals: not dropped.
        setup.sleep(3 * HEARTBEAT)
        assert flooder.error is None, flooder.error
        assert flooder.is_alive() and flooder.conn.is_open
        assert flooder.blocked(), flooder.events
        # A consumer (which never published) drains the queue; the alarm
        # clears and the publisher is told.
        got = []

        def on_message(ch, method, _props, payload):
            got.append(seq(payload))
            ch.basic_ack(method.delivery_tag)

        sch.basic_qos(prefetch_count=500)
        sch.basic_consume(q, on_message)
        deadline = time.monotonic() + 3 * TIMEOUT
        while flooder.blocked():
            assert time.monotonic() < deadline, f"still blocked after consuming {len(got)} of {flooder.sent}"
            setup.process_data_events(time_limit=0.1)
        assert flooder.events[-1][0] == "unblocked", flooder.events
        flooder.stop.set()
        flooder.join(TIMEOUT)
        assert flooder.error is None, flooder.error
        total = flooder.sent
        assert total >= sent_at_block
        while len(got) < total:
            assert time.monotonic() < deadline, f"consumed {len(got)} of {total}"
            setup.process_data_events(time_limit=0.1)
        assert got == list(range(total))
    finally:
        flooder.stop.set()
        flooder.join(TIMEOUT)
        with contextlib.suppress(Exception):
            flooder.conn.close()
        with contextlib.suppress(Exception):
            sch.queue_delete(q)
            setup.close()
