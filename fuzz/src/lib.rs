//! The bodies of Warren's fuzz targets, one function per target.
//!
//! Each takes the fuzzer's octets and panics only on a bug: a decoder that
//! panics, a round trip that changes a value, two decoders that disagree,
//! or a connection state machine that panics, loops, or writes to a
//! connection it already closed. The `fuzz_targets/*.rs` binaries are
//! one-line wrappers; `broker-core/tests/fuzz_regressions.rs` includes this
//! file to replay `fuzz/regressions/<target>/*` as plain tests, so this file
//! may use only `broker_core` and `bytes`.

use broker_core::amqp::frame::{take_frame, take_frame_bytes, write_method};
use broker_core::amqp::method::{ChannelOpen, ConnectionOpen, ConnectionStartOk, ConnectionTuneOk};
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Frame, PropertiesScan, PROTOCOL_HEADER};
use broker_core::{Alarm, BodyLoader, Broker, Config, ConnectionId, Event, LoadedMessage, PeerAddress, PeerInfo, StoreOp, Transport};
use bytes::{Bytes, BytesMut};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The targets by name, as the regression replay finds them.
pub const TARGETS: &[(&str, Target)] =
    &[("frame", frame), ("field_table", field_table), ("properties", properties), ("connection", connection)];

/// Splitting a stream into frames and decoding each: `take_frame` and
/// `take_frame_bytes` agree, and a decoded frame re-encodes to octets that
/// decode to the same frame (compared as octets, so NaN floats in tables
/// count as equal).
pub fn frame(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    // The first two octets pick frame_max: 0 (unbounded), small, or large.
    let frame_max = match u16::from_be_bytes([data[0], data[1]]) {
        0 => 0,
        n => 4096u32.max(n as u32 * 4),
    };
    let rest = &data[2..];
    let mut a = BytesMut::from(rest);
    let mut b = Bytes::copy_from_slice(rest);
    loop {
        let before = a.len();
        let x = take_frame(&mut a, frame_max);
        // A partial frame reserves room for its rest, but never more than
        // RESERVE_MAX whatever size its header claims.
        assert!(a.capacity() <= 2 * (before + broker_core::amqp::frame::RESERVE_MAX), "take_frame reserved {}", a.capacity());
        let y = take_frame_bytes(&mut b, frame_max);
        assert_eq!(x, y, "take_frame and take_frame_bytes disagree");
        let Ok(Some(raw)) = x else { break };
        assert!(frame_max == 0 || raw.payload.len() + 8 <= frame_max as usize);
        if let Ok(decoded) = Frame::decode(raw) {
            let mut once = BytesMut::new();
            decoded.encode(&mut once);
            let again = take_frame(&mut once.clone(), 0).expect("re-encoded frame splits").expect("whole frame");
            let redecoded = Frame::decode(again).expect("re-encoded frame decodes");
            let mut twice = BytesMut::new();
            redecoded.encode(&mut twice);
            assert_eq!(once, twice, "frame changed in a round trip: {decoded:?}");
        }
    }
}

/// Field tables through the only public decoder that takes a bare table,
/// the headers property: decode, encode, decode again, same octets.
pub fn field_table(data: &[u8]) {
    // Property flags with only `headers` set, then the table.
    let mut raw = BytesMut::from(&[0x20u8, 0x00][..]);
    raw.extend_from_slice(data);
    let raw = raw.freeze();
    let decoded = BasicProperties::decode(raw.clone());
    assert_eq!(decoded.is_ok(), PropertiesScan::scan(&raw).is_ok(), "scan and decode disagree on {raw:?}");
    let Ok(props) = decoded else { return };
    let table = props.headers.expect("headers flag set");
    let once = encode_table(&table);
    assert_eq!(once.len(), table.encoded_len(), "encoded_len is wrong for {table:?}");
    let again = decode_table(&once);
    assert_eq!(encode_table(&again), once, "table changed in a round trip: {table:?}");
    // A table nested in an array nested in a table also survives, up to the
    // depth cap.
    let nested = FieldTable::from([("a", FieldValue::Array(vec![FieldValue::Table(table)]))]);
    let n = encode_table(&nested);
    let mut p = BytesMut::from(&[0x20u8, 0x00][..]);
    p.extend_from_slice(&n);
    if let Ok(back) = BasicProperties::decode(p.freeze()) {
        assert_eq!(encode_table(&back.headers.expect("headers")), n);
    }
}

fn encode_table(t: &FieldTable) -> Bytes {
    let mut b = BytesMut::new();
    t.encode(&mut b);
    b.freeze()
}

fn decode_table(octets: &[u8]) -> FieldTable {
    let mut raw = BytesMut::from(&[0x20u8, 0x00][..]);
    raw.extend_from_slice(octets);
    BasicProperties::decode(raw.freeze()).expect("an encoded table decodes").headers.expect("headers")
}

/// Basic properties: the allocation-free scan accepts exactly what the full
/// decoder accepts and finds the same routing fields, and a decoded set
/// re-encodes to octets that decode to the same set.
pub fn properties(data: &[u8]) {
    let raw = Bytes::copy_from_slice(data);
    let scan = PropertiesScan::scan(&raw);
    let decoded = BasicProperties::decode(raw.clone());
    assert_eq!(scan.is_ok(), decoded.is_ok(), "scan {scan:?} vs decode {decoded:?}");
    let (Ok(scan), Ok(props)) = (scan, decoded) else { return };
    assert_eq!(scan.delivery_mode, props.delivery_mode.unwrap_or(0));
    assert_eq!(scan.priority, props.priority);
    assert_eq!(scan.has_headers, props.headers.is_some());
    assert_eq!(PropertiesScan::text(&raw, scan.expiration), props.expiration.as_deref());
    assert_eq!(PropertiesScan::text(&raw, scan.reply_to), props.reply_to.as_deref());
    assert_eq!(PropertiesScan::text(&raw, scan.user_id), props.user_id.as_deref());
    let once = props.to_bytes();
    let again = BasicProperties::decode(once.clone()).expect("encoded properties decode");
    assert_eq!(again.to_bytes(), once, "properties changed in a round trip: {props:?}");
}

/// Upper bound on what one step (one input or one time advance) may make
/// the broker write: a runaway loop trips it; honest output of a
/// fuzz-sized input stays far below.
const STEP_OUTPUT_MAX: usize = 64 << 20;
/// Upper bound on connections the input may open (reconnects included).
const MAX_CONNECTIONS: usize = 16;

/// The whole connection state machine. The first octet picks the setup:
/// bits 0-1 the number of connections (1-3), bits 2-4 whether each starts
/// with a complete handshake (header, start-ok as guest, tune-ok, open of
/// `/`, channel 1 open), bit 5 persistence (store ops acknowledged at
/// once, bodies kept for the loader), bit 6 WebSocket transport, bit 7 a
/// tiny memory budget (bodies paged out). Then a sequence of operations,
/// each an octet `op` and its arguments:
///
/// * `op % 8` in 0..=3: `1 + next octet` octets (or all remaining, if fewer)
///   to connection `(op >> 3) % n`;
/// * 4: the clock moves `next u16 << (op >> 4)` ms (up to ~2 min in one go;
///   heartbeats, TTLs, timeouts);
/// * 5: connection `(op >> 3) % n` disconnects; a fresh one, handshaken
///   when `op & 0x80`, takes its place;
/// * 6: the memory alarm toggles;
/// * 7: store acknowledgements are held (`op & 8`) or released.
///
/// Checked: no panic; no output for a connection after its `Closed` event;
/// no step writes more than [`STEP_OUTPUT_MAX`]; timers terminate.
pub fn connection(data: &[u8]) {
    let Some((&setup, mut ops)) = data.split_first() else { return };
    let persistence = setup & 0x20 != 0;
    let mut config = Config {
        persistence,
        memory_budget: (setup & 0x80 != 0).then_some(256),
        // Small, so deep-queue entries that live only in the store occur.
        resident_queue_depth: 3,
        login_failure_delay_ms: 500,
        consumer_timeout_ms: Some(20_000),
        ..Config::default()
    };
    config.max_message_size = 1 << 20;
    let transport = if setup & 0x40 != 0 { Transport::WebSocket } else { Transport::Tcp };
    let mut d = Driver {
        broker: Broker::new(config, 1_000_000).expect("the fuzz configuration is valid"),
        now: 1_000_000,
        conns: Vec::new(),
        opened: 0,
        store: std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new())),
        hold_acks: false,
        last_ticket: 0,
        transport,
    };
    if persistence {
        d.broker.set_body_loader(Box::new(MemoryLoader(d.store.clone())));
    }
    let n = 1 + (setup & 3) as usize % 3;
    for i in 0..n {
        let c = d.connect(setup & (4 << i) != 0);
        d.conns.push(c);
    }
    d.drain();
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let slot = (op >> 3) as usize % n;
        match op % 8 {
            0..=3 => {
                let len = match ops.split_first() {
                    Some((&l, rest)) => {
                        ops = rest;
                        (l as usize + 1).min(ops.len())
                    }
                    None => 0,
                };
                let (chunk, rest) = ops.split_at(len);
                ops = rest;
                if let Some(c) = d.conns[slot].filter(|c| !c.paused) {
                    d.broker.handle_bytes(c.id, d.now, Bytes::copy_from_slice(chunk));
                }
            }
            4 => {
                let (ms, rest) = match ops {
                    [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]) as u64, rest),
                    _ => (1000, &[][..]),
                };
                ops = rest;
                d.advance(ms << (op >> 4).min(7));
            }
            5 => {
                if let Some(c) = d.conns[slot].take() {
                    d.broker.handle_disconnect(c.id, d.now);
                }
                if d.opened < MAX_CONNECTIONS {
                    d.conns[slot] = d.connect(op & 0x80 != 0);
                }
            }
            6 => {
                let on = !d.broker.alarms().contains(&Alarm::Memory);
                d.broker.set_alarm(Alarm::Memory, on);
            }
            _ => d.hold_acks = op & 8 != 0,
        }
        d.drain();
    }
    // Let every timer fire: heartbeats time out, handshakes expire.
    d.hold_acks = false;
    for _ in 0..4 {
        d.advance(400_000);
    }
}

#[derive(Clone, Copy)]
struct Conn {
    id: ConnectionId,
    paused: bool,
}

struct Driver {
    broker: Broker,
    now: u64,
    conns: Vec<Option<Conn>>,
    opened: usize,
    store: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, LoadedMessage>>>,
    hold_acks: bool,
    last_ticket: u64,
    transport: Transport,
}

impl Driver {
    fn connect(&mut self, handshake: bool) -> Option<Conn> {
        self.opened += 1;
        let peer = PeerInfo {
            address: PeerAddress::Socket { peer: ([127, 0, 0, 1], 40000).into(), local: None },
            loopback: true,
            transport: self.transport,
        };
        let id = self.broker.handle_connect(self.now, peer);
        if handshake {
            self.broker.handle_bytes(id, self.now, handshake_prefix());
        }
        Some(Conn { id, paused: false })
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        // Timers that reschedule themselves in the past would spin here.
        for _ in 0..64 {
            match self.broker.poll_timeout() {
                Some(t) if t <= self.now => {
                    self.broker.handle_timeout(self.now);
                    self.drain();
                }
                _ => return,
            }
        }
        panic!("timers still due after 64 rounds at {}", self.now);
    }

    /// What a driver does after each input: carry out store operations,
    /// write (and report written) all output, act on events.
    fn drain(&mut self) {
        let mut step_output = 0usize;
        for _ in 0..8 {
            let mut progress = false;
            while let Some(op) = self.broker.poll_store_op() {
                progress = true;
                let mut store = self.store.lock().expect("store lock");
                match op {
                    StoreOp::Append { ticket, key, exchange, routing_key, properties, body, .. } => {
                        store.insert(key, LoadedMessage { exchange, routing_key, properties, body });
                        self.last_ticket = self.last_ticket.max(ticket);
                    }
                    StoreOp::Page { ticket, key, body } => {
                        let m = LoadedMessage { exchange: "".into(), routing_key: "".into(), properties: Bytes::new(), body };
                        store.insert(key, m);
                        self.last_ticket = self.last_ticket.max(ticket);
                    }
                    // Persisted messages stay (a real store drops them once
                    // every queue acked them; the fuzz input bounds this).
                    StoreOp::Unpage { key } => {
                        store.remove(&key);
                    }
                    _ => {}
                }
            }
            if !self.hold_acks && self.last_ticket > 0 {
                self.broker.handle_persisted(self.last_ticket);
            }
            let mut written = Vec::new();
            while let Some(t) = self.broker.poll_transmit() {
                progress = true;
                let live = self.conns.iter().flatten().any(|c| c.id == t.connection);
                assert!(live, "output for connection {:?}, which is closed or unknown", t.connection);
                step_output += t.data.len();
                assert!(step_output <= STEP_OUTPUT_MAX, "one step wrote more than {STEP_OUTPUT_MAX} octets");
                written.push((t.connection, t.data.len()));
            }
            while let Some(event) = self.broker.poll_event() {
                progress = true;
                match event {
                    Event::Closed { connection, .. } => {
                        for slot in self.conns.iter_mut() {
                            if slot.is_some_and(|c| c.id == connection) {
                                *slot = None;
                            }
                        }
                    }
                    Event::PauseReading { connection } | Event::ResumeReading { connection } => {
                        let pause = matches!(event, Event::PauseReading { .. });
                        for c in self.conns.iter_mut().flatten().filter(|c| c.id == connection) {
                            c.paused = pause;
                        }
                    }
                }
            }
            for (c, n) in written {
                self.broker.handle_written(c, n);
            }
            if !progress {
                return;
            }
        }
    }
}

struct MemoryLoader(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, LoadedMessage>>>);

impl BodyLoader for MemoryLoader {
    fn load(&mut self, key: u64) -> Option<LoadedMessage> {
        self.0.lock().ok()?.get(&key).cloned()
    }
}

/// A client's side of a complete handshake as guest on `/`, then channel 1
/// opened: what a seed corpus entry starts with.
pub fn handshake_prefix() -> Bytes {
    let mut b = BytesMut::from(&PROTOCOL_HEADER[..]);
    let caps = FieldTable::from([
        ("publisher_confirms", FieldValue::Bool(true)),
        ("consumer_cancel_notify", FieldValue::Bool(true)),
        ("basic.nack", FieldValue::Bool(true)),
    ]);
    let props = FieldTable::from([("capabilities", FieldValue::Table(caps))]);
    let start_ok = ConnectionStartOk {
        client_properties: props,
        mechanism: "PLAIN".into(),
        response: Bytes::from_static(b"\0guest\0guest"),
        locale: "en_US".into(),
    };
    write_method(&mut b, 0, &start_ok.into());
    write_method(&mut b, 0, &ConnectionTuneOk { channel_max: 2047, frame_max: 131_072, heartbeat: 60 }.into());
    write_method(&mut b, 0, &ConnectionOpen { virtual_host: "/".into(), ..Default::default() }.into());
    write_method(&mut b, 1, &ChannelOpen::default().into());
    b.freeze()
}
