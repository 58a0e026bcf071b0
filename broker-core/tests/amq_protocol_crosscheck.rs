//! Cross-checks our AMQP 0-9-1 codec against `amq-protocol` (the codec behind
//! lapin), in both directions: what amq-protocol writes we must read, and what
//! we write amq-protocol must read, for every method, field-table type,
//! content header property, body and heartbeat frame.
//!
//! Where the two codecs disagree, RabbitMQ (`rabbit_binary_parser`, the
//! extended 0-9-1 spec) is the reference. Known disagreements:
//!
//! * Reserved method fields (`ticket`, `out-of-band`, `capabilities`, `insist`,
//!   `known-hosts`, `channel-id`, get-empty's `cluster-id`, qos's
//!   `prefetch-size`) are not modelled by amq-protocol: it writes fixed values
//!   (0 / empty; 1 for access.request-ok's ticket) and ignores what it reads.
//!   We carry them, so each case names the value amq-protocol writes.
//! * amq-protocol's `FieldTable` is a `BTreeMap`: it writes keys sorted and
//!   keeps only the last of duplicate keys. RabbitMQ (and we) keep wire order
//!   and duplicates. Cross-checked tables therefore use unique, sorted keys.
//! * amq-protocol writes `AMQPValue::ShortString` with type octet `_`, which
//!   no broker reads; RabbitMQ has no short-string table type. We reject `_`.
//! * amq-protocol reads `U` as a signed 16-bit int; RabbitMQ rejects `U`, and
//!   so do we.
//! * Both amq-protocol and RabbitMQ read `L` as a signed 64-bit int (RabbitMQ
//!   issue #1093). We did not; fixed in `table.rs` (see
//!   `rabbitmq_format_bytes_decode_and_encode`).

use std::collections::BTreeSet;

use amq_protocol::frame::{gen_frame, parse_frame, AMQPContentHeader, AMQPFrame, ProtocolVersion, WriteContext};
use amq_protocol::protocol::{access, basic, channel, confirm, connection, exchange, queue, tx, AMQPClass, BasicProperties as AmqProps};
use amq_protocol::types::generation::gen_field_table;
use amq_protocol::types::parsing::parse_field_table;
use amq_protocol::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable as AmqTable, LongString, ShortString};
use broker_core::amqp::frame::{take_frame, write_body, write_content_header, write_heartbeat, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, DecodeError, FieldTable, FieldValue, Frame, PropertiesScan, ShortStr, PROTOCOL_HEADER};
use bytes::{Bytes, BytesMut};

// ---------------------------------------------------------------------------
// Plumbing: encode/decode one frame with each codec.

fn amq_encode(frame: &AMQPFrame) -> Vec<u8> {
    gen_frame(frame)(WriteContext::from(Vec::new())).expect("amq-protocol encodes").into_inner().0
}

/// Parses exactly one frame with amq-protocol.
fn amq_decode(bytes: &[u8]) -> AMQPFrame {
    match parse_frame(bytes) {
        Ok(([], frame)) => frame,
        Ok((rest, _)) => panic!("amq-protocol left {} octets of {bytes:02x?}", rest.len()),
        Err(e) => panic!("amq-protocol rejects {bytes:02x?}: {e:?}"),
    }
}

/// Splits and decodes exactly one frame with our codec.
fn ours_decode(bytes: &[u8]) -> Frame {
    let mut buf = BytesMut::from(bytes);
    let raw = take_frame(&mut buf, 0).expect("frame splits").expect("a whole frame");
    assert!(buf.is_empty(), "trailing octets after one frame");
    Frame::decode(raw).unwrap_or_else(|e| panic!("we reject {bytes:02x?}: {e:?}"))
}

fn ours_encode(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut out = BytesMut::new();
    write(&mut out);
    out.to_vec()
}

// ---------------------------------------------------------------------------
// Values: one neutral expression converted to either codec's field type.

trait To<T> {
    fn to(&self) -> T;
}
impl<T: Clone> To<T> for T {
    fn to(&self) -> T {
        self.clone()
    }
}
impl To<ShortStr> for &str {
    fn to(&self) -> ShortStr {
        ShortStr::from(*self)
    }
}
impl To<ShortString> for &str {
    fn to(&self) -> ShortString {
        ShortString::from(*self)
    }
}
impl To<ShortStr> for String {
    fn to(&self) -> ShortStr {
        ShortStr::from(self.clone())
    }
}
impl To<ShortString> for String {
    fn to(&self) -> ShortString {
        ShortString::from(self.clone())
    }
}
impl To<Bytes> for Vec<u8> {
    fn to(&self) -> Bytes {
        Bytes::from(self.clone())
    }
}
impl To<LongString> for Vec<u8> {
    fn to(&self) -> LongString {
        LongString::from(self.clone())
    }
}
impl<const N: usize> To<Bytes> for &[u8; N] {
    fn to(&self) -> Bytes {
        Bytes::copy_from_slice(&self[..])
    }
}
impl<const N: usize> To<LongString> for &[u8; N] {
    fn to(&self) -> LongString {
        LongString::from(self.to_vec())
    }
}
impl To<AmqTable> for FieldTable {
    fn to(&self) -> AmqTable {
        amq_table(self)
    }
}

/// Our value type as amq-protocol's: the RabbitMQ type letters map 1:1.
fn amq_value(v: &FieldValue) -> AMQPValue {
    match v {
        FieldValue::Bool(v) => AMQPValue::Boolean(*v),
        FieldValue::I8(v) => AMQPValue::ShortShortInt(*v),
        FieldValue::U8(v) => AMQPValue::ShortShortUInt(*v),
        FieldValue::I16(v) => AMQPValue::ShortInt(*v),
        FieldValue::U16(v) => AMQPValue::ShortUInt(*v),
        FieldValue::I32(v) => AMQPValue::LongInt(*v),
        FieldValue::U32(v) => AMQPValue::LongUInt(*v),
        FieldValue::I64(v) => AMQPValue::LongLongInt(*v),
        FieldValue::F32(v) => AMQPValue::Float(*v),
        FieldValue::F64(v) => AMQPValue::Double(*v),
        FieldValue::Decimal { scale, value } => AMQPValue::DecimalValue(DecimalValue { scale: *scale, value: *value }),
        FieldValue::LongStr(b) => AMQPValue::LongString(b.to_vec().into()),
        FieldValue::Array(a) => AMQPValue::FieldArray(FieldArray::from(a.iter().map(amq_value).collect::<Vec<_>>())),
        FieldValue::Timestamp(v) => AMQPValue::Timestamp(*v),
        FieldValue::Table(t) => AMQPValue::FieldTable(amq_table(t)),
        FieldValue::Void => AMQPValue::Void,
        FieldValue::Bytes(b) => AMQPValue::ByteArray(ByteArray::from(b.to_vec())),
    }
}

fn amq_table(t: &FieldTable) -> AmqTable {
    let mut out = AmqTable::default();
    for (k, v) in t.iter() {
        out.insert(k.into(), amq_value(v));
    }
    out
}

/// Our table with keys in the order amq-protocol writes them (sorted).
fn table<const N: usize>(entries: [(&str, FieldValue); N]) -> FieldTable {
    let mut t = FieldTable::from(entries);
    t.0.sort_by(|(a, _), (b, _)| str::cmp(a, b));
    t
}

fn bytes(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// One value of every RabbitMQ scalar type, at or near its limits.
fn scalars() -> Vec<FieldValue> {
    use FieldValue::*;
    vec![
        Bool(true),
        Bool(false),
        I8(i8::MIN),
        U8(u8::MAX),
        I16(i16::MIN),
        U16(u16::MAX),
        I32(i32::MIN),
        U32(u32::MAX),
        I64(i64::MIN),
        F32(-f32::MAX),
        F64(f64::MIN_POSITIVE),
        Decimal { scale: u8::MAX, value: u32::MAX },
        LongStr(bytes(b"\0\xff\xce not utf-8")),
        Timestamp(u64::MAX),
        Void,
        Bytes(bytes(&[0xce, 0, 0xff])),
    ]
}

/// A table using every type letter RabbitMQ reads, nested arrays and tables.
fn every_type() -> FieldTable {
    use FieldValue::*;
    let mut array = scalars();
    array.push(Array(vec![Array(vec![]), I64(i64::MAX)]));
    array.push(Table(table([("in-array", Bool(true))])));
    table([
        ("t", Bool(true)),
        ("t-false", Bool(false)),
        ("b", I8(i8::MIN)),
        ("B", U8(u8::MAX)),
        ("s", I16(i16::MIN)),
        ("u", U16(u16::MAX)),
        ("I", I32(i32::MIN)),
        ("i", U32(u32::MAX)),
        ("l", I64(i64::MIN)),
        ("l-max", I64(i64::MAX)),
        ("f", F32(f32::MIN_POSITIVE)),
        ("d", F64(-f64::MAX)),
        ("D", Decimal { scale: 2, value: 0x8000_0001 }),
        ("S", LongStr(bytes("ünïcödé \u{1F407}".as_bytes()))),
        ("A", Array(array)),
        ("A-empty", Array(vec![])),
        ("T", Timestamp(1_700_000_000)),
        ("F", Table(table([("V", Void), ("deeper", Table(table([("x", Bytes(bytes(b"\x01")))])))]))),
        ("F-empty", Table(FieldTable::new())),
        ("V", Void),
        ("x", Bytes(bytes(&[0, 1, 0xfe, 0xff]))),
        ("", I32(7)),
        ("ключ-日本", FieldValue::str("utf-8 key")),
    ])
}

/// Typical method arguments; empty for some patterns.
fn args(p: u8) -> FieldTable {
    use FieldValue::*;
    if p % 4 == 3 {
        return FieldTable::new();
    }
    table([
        ("x-dead-letter-exchange", FieldValue::str("dlx")),
        ("x-expires", I32(i32::MAX - p as i32)),
        ("x-match", FieldValue::str(if p & 1 == 0 { "all" } else { "any-with-x" })),
        ("x-max-priority", U8(255 - p)),
        ("x-queue-type", FieldValue::str("quorum")),
        ("x-flags", Array(vec![Bool(p % 2 == 1), Void, I64(-1)])),
    ])
}

/// A 255-octet short string ending on a multi-byte character boundary.
fn max_short() -> String {
    "ü".repeat(127) + "!"
}

// ---------------------------------------------------------------------------
// Methods.

/// One method as we model it (`ours`, with distinctive reserved fields), as
/// amq-protocol writes it (reserved fields at its fixed values), and as
/// amq-protocol models it.
struct Case {
    ours: Method,
    as_amq_writes: Method,
    amq: AMQPClass,
}

/// `case!(Ours = Variant(module::Amq) { shared fields } reserved { field: ours => amq-protocol's })`.
macro_rules! case {
    ($ours:ident = $variant:ident($module:ident::$amq:ident) { $($f:ident: $v:expr),* $(,)? }
     $(reserved { $($rf:ident: $rv:expr => $ramq:expr),* $(,)? })?) => {
        Case {
            ours: Method::$ours($ours { $($f: To::to(&$v),)* $($($rf: To::to(&$rv),)*)? }),
            as_amq_writes: Method::$ours($ours { $($f: To::to(&$v),)* $($($rf: To::to(&$ramq),)*)? }),
            amq: AMQPClass::$variant($module::AMQPMethod::$amq($module::$amq { $($f: To::to(&$v),)* })),
        }
    };
}

/// Bit `i` of the pattern `p`: running `p` over 0..32 gives every combination
/// of up to five consecutive bits, so bit packing is exercised exhaustively.
fn bit(p: u8, i: u8) -> bool {
    p & (1 << i) != 0
}

/// Every method of our table, with field values derived from `p`.
fn cases(p: u8) -> Vec<Case> {
    let b = |i| bit(p, i);
    let n16 = u16::MAX - p as u16;
    let n32 = u32::MAX - p as u32;
    let n64 = u64::MAX - p as u64;
    let tag = format!("amq.ctag-{p}-ünï");
    vec![
        // connection
        case!(ConnectionStart = Connection(connection::Start) {
            version_major: 0u8, version_minor: 9u8 + p, server_properties: every_type(),
            mechanisms: b"PLAIN AMQPLAIN EXTERNAL", locales: b"en_US de_DE" }),
        case!(ConnectionStartOk = Connection(connection::StartOk) {
            client_properties: every_type(), mechanism: "PLAIN", response: b"\0guest\0gu\xffest", locale: "en_US" }),
        case!(ConnectionSecure = Connection(connection::Secure) { challenge: vec![0xceu8; 70_000] }),
        case!(ConnectionSecureOk = Connection(connection::SecureOk) { response: b"\0\0\xce" }),
        case!(ConnectionTune = Connection(connection::Tune) { channel_max: n16, frame_max: n32, heartbeat: p as u16 }),
        case!(ConnectionTuneOk = Connection(connection::TuneOk) { channel_max: 2047u16, frame_max: 131_072u32, heartbeat: n16 }),
        case!(ConnectionOpen = Connection(connection::Open) { virtual_host: max_short() }
            reserved { capabilities: "cap" => "", insist: b(0) => false }),
        case!(ConnectionOpenOk = Connection(connection::OpenOk) {} reserved { known_hosts: "host:5672" => "" }),
        case!(ConnectionClose = Connection(connection::Close) {
            reply_code: 541u16, reply_text: "INTERNAL_ERROR - ünexpected", class_id: 60u16, method_id: n16 }),
        case!(ConnectionCloseOk = Connection(connection::CloseOk) {}),
        case!(ConnectionBlocked = Connection(connection::Blocked) { reason: "low on memory" }),
        case!(ConnectionUnblocked = Connection(connection::Unblocked) {}),
        case!(ConnectionUpdateSecret = Connection(connection::UpdateSecret) {
            new_secret: b"eyJ0eXAi.jwt\0\xff", reason: "token refresh" }),
        case!(ConnectionUpdateSecretOk = Connection(connection::UpdateSecretOk) {}),
        // channel
        case!(ChannelOpen = Channel(channel::Open) {} reserved { out_of_band: "oob" => "" }),
        case!(ChannelOpenOk = Channel(channel::OpenOk) {} reserved { channel_id: b"chan-id" => b"" }),
        case!(ChannelFlow = Channel(channel::Flow) { active: b(0) }),
        case!(ChannelFlowOk = Channel(channel::FlowOk) { active: b(1) }),
        case!(ChannelClose = Channel(channel::Close) {
            reply_code: 406u16, reply_text: max_short(), class_id: 50u16, method_id: 10u16 }),
        case!(ChannelCloseOk = Channel(channel::CloseOk) {}),
        // access
        case!(AccessRequest = Access(access::Request) {
            realm: "/data", exclusive: b(0), passive: b(1), active: b(2), write: b(3), read: b(4) }),
        case!(AccessRequestOk = Access(access::RequestOk) {} reserved { ticket: 0xBEEFu16 => 1u16 }),
        // exchange
        case!(ExchangeDeclare = Exchange(exchange::Declare) {
            exchange: "ex.ünï", kind: "x-consistent-hash", passive: b(0), durable: b(1), auto_delete: b(2),
            internal: b(3), nowait: b(4), arguments: args(p) } reserved { ticket: n16 => 0u16 }),
        case!(ExchangeDeclareOk = Exchange(exchange::DeclareOk) {}),
        case!(ExchangeDelete = Exchange(exchange::Delete) { exchange: max_short(), if_unused: b(0), nowait: b(1) }
            reserved { ticket: 0xBEEFu16 => 0u16 }),
        case!(ExchangeDeleteOk = Exchange(exchange::DeleteOk) {}),
        case!(ExchangeBind = Exchange(exchange::Bind) {
            destination: "dst", source: "src", routing_key: "a.*.#", nowait: b(2), arguments: args(p) }
            reserved { ticket: 1u16 => 0u16 }),
        case!(ExchangeBindOk = Exchange(exchange::BindOk) {}),
        case!(ExchangeUnbind = Exchange(exchange::Unbind) {
            destination: "", source: "amq.topic", routing_key: max_short(), nowait: b(3), arguments: args(p + 1) }
            reserved { ticket: n16 => 0u16 }),
        case!(ExchangeUnbindOk = Exchange(exchange::UnbindOk) {}),
        // queue
        case!(QueueDeclare = Queue(queue::Declare) {
            queue: "q.ünï", passive: b(0), durable: b(1), exclusive: b(2), auto_delete: b(3), nowait: b(4),
            arguments: args(p) } reserved { ticket: 0xFFFFu16 => 0u16 }),
        case!(QueueDeclareOk = Queue(queue::DeclareOk) { queue: "amq.gen-JzTY20BRgKO", message_count: n32, consumer_count: p as u32 }),
        case!(QueueBind = Queue(queue::Bind) {
            queue: "q", exchange: "amq.headers", routing_key: "", nowait: b(0), arguments: args(p + 2) }
            reserved { ticket: n16 => 0u16 }),
        case!(QueueBindOk = Queue(queue::BindOk) {}),
        case!(QueuePurge = Queue(queue::Purge) { queue: max_short(), nowait: b(1) } reserved { ticket: 7u16 => 0u16 }),
        case!(QueuePurgeOk = Queue(queue::PurgeOk) { message_count: n32 }),
        case!(QueueDelete = Queue(queue::Delete) { queue: "q", if_unused: b(0), if_empty: b(1), nowait: b(2) }
            reserved { ticket: n16 => 0u16 }),
        case!(QueueDeleteOk = Queue(queue::DeleteOk) { message_count: u32::MAX }),
        case!(QueueUnbind = Queue(queue::Unbind) { queue: "q", exchange: "x", routing_key: "rk.ü", arguments: args(p) }
            reserved { ticket: n16 => 0u16 }),
        case!(QueueUnbindOk = Queue(queue::UnbindOk) {}),
        // basic
        case!(BasicQos = Basic(basic::Qos) { prefetch_count: n16, global: b(0) }
            reserved { prefetch_size: n32 => 0u32 }),
        case!(BasicQosOk = Basic(basic::QosOk) {}),
        case!(BasicConsume = Basic(basic::Consume) {
            queue: "q", consumer_tag: tag.as_str(), no_local: b(0), no_ack: b(1), exclusive: b(2), nowait: b(3),
            arguments: args(p) } reserved { ticket: n16 => 0u16 }),
        case!(BasicConsumeOk = Basic(basic::ConsumeOk) { consumer_tag: max_short() }),
        case!(BasicCancel = Basic(basic::Cancel) { consumer_tag: tag.as_str(), nowait: b(4) }),
        case!(BasicCancelOk = Basic(basic::CancelOk) { consumer_tag: "" }),
        case!(BasicPublish = Basic(basic::Publish) { exchange: "", routing_key: max_short(), mandatory: b(0), immediate: b(1) }
            reserved { ticket: n16 => 0u16 }),
        case!(BasicReturn = Basic(basic::Return) { reply_code: 312u16, reply_text: "NO_ROUTE", exchange: "ex", routing_key: "rk" }),
        case!(BasicDeliver = Basic(basic::Deliver) {
            consumer_tag: tag.as_str(), delivery_tag: n64, redelivered: b(0), exchange: "amq.direct", routing_key: max_short() }),
        case!(BasicGet = Basic(basic::Get) { queue: "q.ü", no_ack: b(2) } reserved { ticket: n16 => 0u16 }),
        case!(BasicGetOk = Basic(basic::GetOk) {
            delivery_tag: n64, redelivered: b(1), exchange: "", routing_key: "rk", message_count: n32 }),
        case!(BasicGetEmpty = Basic(basic::GetEmpty) {} reserved { cluster_id: "cluster" => "" }),
        case!(BasicAck = Basic(basic::Ack) { delivery_tag: n64, multiple: b(0) }),
        case!(BasicReject = Basic(basic::Reject) { delivery_tag: 1u64 << 63, requeue: b(1) }),
        case!(BasicRecoverAsync = Basic(basic::RecoverAsync) { requeue: b(2) }),
        case!(BasicRecover = Basic(basic::Recover) { requeue: b(3) }),
        case!(BasicRecoverOk = Basic(basic::RecoverOk) {}),
        case!(BasicNack = Basic(basic::Nack) { delivery_tag: n64, multiple: b(0), requeue: b(1) }),
        // confirm
        case!(ConfirmSelect = Confirm(confirm::Select) { nowait: b(4) }),
        case!(ConfirmSelectOk = Confirm(confirm::SelectOk) {}),
        // tx
        case!(TxSelect = Tx(tx::Select) {}),
        case!(TxSelectOk = Tx(tx::SelectOk) {}),
        case!(TxCommit = Tx(tx::Commit) {}),
        case!(TxCommitOk = Tx(tx::CommitOk) {}),
        case!(TxRollback = Tx(tx::Rollback) {}),
        case!(TxRollbackOk = Tx(tx::RollbackOk) {}),
    ]
}

fn channel_for(i: usize) -> u16 {
    [0, 1, 0x7fff, u16::MAX][i % 4]
}

#[test]
fn every_method_is_covered_with_matching_ids() {
    let ours: BTreeSet<_> = Method::all_defaults().iter().map(Method::ids).collect();
    assert_eq!(ours.len(), 66);
    let cases = cases(0);
    let covered: BTreeSet<_> = cases.iter().map(|c| c.ours.ids()).collect();
    assert_eq!(covered, ours);
    assert_eq!(cases.len(), 66, "one case per method");
    for c in &cases {
        let theirs = (c.amq.get_amqp_class_id(), c.amq.get_amqp_method_id());
        assert_eq!(c.ours.ids(), theirs, "{}", c.ours.name());
    }
    // RabbitMQ numbers exchange.unbind-ok 51, and so do both codecs.
    assert_eq!(ExchangeUnbindOk::METHOD_ID, 51);
}

#[test]
fn methods_written_by_amq_protocol_decode_identically() {
    for p in 0..32 {
        for (i, c) in cases(p).into_iter().enumerate() {
            let channel = channel_for(i);
            let wire = amq_encode(&AMQPFrame::Method(channel, c.amq));
            let expected = Frame::Method { channel, method: c.as_amq_writes.clone() };
            assert_eq!(ours_decode(&wire), expected, "p={p} {}", c.ours.name());
            // Both codecs produce the very same octets.
            let ours = ours_encode(|out| write_method(out, channel, &c.as_amq_writes));
            assert_eq!(ours, wire, "p={p} {}", c.ours.name());
        }
    }
}

#[test]
fn methods_we_write_decode_identically_in_amq_protocol() {
    for p in 0..32 {
        for (i, c) in cases(p).into_iter().enumerate() {
            let channel = channel_for(i);
            // Our reserved fields carry non-default values: amq-protocol must
            // still find every other field where it expects it.
            let wire = ours_encode(|out| write_method(out, channel, &c.ours));
            assert_eq!(amq_decode(&wire), AMQPFrame::Method(channel, c.amq), "p={p} {}", c.ours.name());
        }
    }
}

// ---------------------------------------------------------------------------
// Field tables. Ours are decoded through a content header's `headers`
// property, the public way in; `PropertiesScan` checks the validating skip.

fn amq_table_bytes(t: &AmqTable) -> Vec<u8> {
    gen_field_table(t)(WriteContext::from(Vec::new())).expect("amq-protocol encodes").into_inner().0
}

fn ours_table_bytes(t: &FieldTable) -> Vec<u8> {
    ours_encode(|out| t.encode(out))
}

fn ours_read_table(wire: &[u8]) -> Result<FieldTable, DecodeError> {
    let mut raw = vec![0x20, 0x00]; // property flags: headers only
    raw.extend_from_slice(wire);
    let raw = Bytes::from(raw);
    let scanned = PropertiesScan::scan(&raw).map(|s| s.has_headers);
    let decoded = BasicProperties::decode(raw).map(|p| p.headers.expect("headers flag set"));
    assert_eq!(scanned.err(), decoded.as_ref().err().copied(), "scan and decode agree");
    decoded
}

fn amq_read_table(wire: &[u8]) -> AmqTable {
    match parse_field_table(wire) {
        Ok(([], t)) => t,
        other => panic!("amq-protocol rejects table {wire:02x?}: {other:?}"),
    }
}

fn nested(depth: usize) -> FieldTable {
    let mut t = table([("leaf", FieldValue::Bool(true))]);
    for _ in 1..depth {
        t = table([("n", FieldValue::Table(t)), ("a", FieldValue::Array(vec![FieldValue::U16(1)]))]);
    }
    t
}

fn cross_checked_tables() -> Vec<FieldTable> {
    let mut tables = vec![every_type(), FieldTable::new(), args(0), nested(16)];
    tables.extend(scalars().into_iter().map(|v| table([("only", v)])));
    tables
}

#[test]
fn tables_written_by_amq_protocol_decode_identically() {
    for t in cross_checked_tables() {
        let wire = amq_table_bytes(&amq_table(&t));
        assert_eq!(ours_read_table(&wire).as_ref(), Ok(&t));
        assert_eq!(ours_table_bytes(&t), wire, "same octets for {t:?}");
        assert_eq!(t.encoded_len(), wire.len());
    }
}

#[test]
fn tables_we_write_decode_identically_in_amq_protocol() {
    for t in cross_checked_tables() {
        let wire = ours_table_bytes(&t);
        assert_eq!(amq_read_table(&wire), amq_table(&t), "{t:?}");
    }
}

/// A table of one entry `k` holding the value octets `value` (type octet first).
fn one_entry(value: &[u8]) -> Vec<u8> {
    let mut wire = ((value.len() + 2) as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&[1, b'k']);
    wire.extend_from_slice(value);
    wire
}

#[test]
fn rabbitmq_format_bytes_decode_and_encode() {
    use FieldValue::*;
    // Hand-written per rabbit_binary_parser: type octet, then big-endian value.
    let canonical: Vec<(&[u8], FieldValue)> = vec![
        (b"t\x01", Bool(true)),
        (b"t\x00", Bool(false)),
        (b"b\x80", I8(-128)),
        (b"B\xff", U8(255)),
        (b"s\x80\x00", I16(-32768)),
        (b"u\xff\xfe", U16(65534)),
        (b"I\xff\xff\xff\xfe", I32(-2)),
        (b"i\xff\xff\xff\xfe", U32(4_294_967_294)),
        (b"l\x80\x00\x00\x00\x00\x00\x00\x01", I64(i64::MIN + 1)),
        (b"f\x3f\xc0\x00\x00", F32(1.5)),
        (b"d\xc0\x02\x00\x00\x00\x00\x00\x00", F64(-2.25)),
        (b"D\x03\x00\x00\x30\x39", Decimal { scale: 3, value: 12345 }),
        (b"S\x00\x00\x00\x03a\x00\xff", LongStr(bytes(b"a\0\xff"))),
        (b"A\x00\x00\x00\x07I\x00\x00\x00\x05VV", Array(vec![I32(5), Void, Void])),
        (b"T\x00\x00\x00\x00\x65\x53\xf1\x00", Timestamp(0x6553_f100)),
        (b"F\x00\x00\x00\x04\x01kB\x09", Table(table([("k", U8(9))]))),
        (b"V", Void),
        (b"x\x00\x00\x00\x02\xce\x00", Bytes(bytes(b"\xce\x00"))),
    ];
    for (value, expected) in &canonical {
        let wire = one_entry(value);
        let expected = table([("k", expected.clone())]);
        assert_eq!(ours_read_table(&wire).as_ref(), Ok(&expected), "{value:02x?}");
        assert_eq!(ours_table_bytes(&expected), wire, "{value:02x?}");
        // A third opinion on the hand-written octets.
        assert_eq!(amq_read_table(&wire), amq_table(&expected), "{value:02x?}");
    }

    // Read-only forms: RabbitMQ reads any non-zero octet as true, and reads
    // 'L' as a signed 64-bit int exactly like 'l' (so does amq-protocol).
    // Our decoder used to reject 'L' with BadFieldType; fixed.
    let read_only: Vec<(&[u8], FieldValue)> = vec![(b"t\x07", Bool(true)), (b"L\xff\xff\xff\xff\xff\xff\xff\xfe", I64(-2))];
    for (value, expected) in read_only {
        let wire = one_entry(value);
        let expected = table([("k", expected)]);
        assert_eq!(ours_read_table(&wire), Ok(expected.clone()), "{value:02x?}");
        assert_eq!(amq_read_table(&wire), amq_table(&expected), "{value:02x?}");
    }
    // 'L' inside an array too.
    let wire = one_entry(b"A\x00\x00\x00\x09L\x00\x00\x00\x00\x00\x00\x00\x05");
    assert_eq!(ours_read_table(&wire), Ok(table([("k", Array(vec![I64(5)]))])));

    // RabbitMQ has no 'U' clause (amq-protocol reads it as i16) and no
    // short-string type (amq-protocol writes one as '_'): both are errors.
    assert_eq!(ours_read_table(&one_entry(b"U\x00\x01")), Err(DecodeError::BadFieldType(b'U')));
    let mut with_short = AmqTable::default();
    with_short.insert("k".into(), AMQPValue::ShortString("v".into()));
    let short = amq_table_bytes(&with_short);
    assert_eq!(short, one_entry(b"_\x01v"));
    assert_eq!(ours_read_table(&short), Err(DecodeError::BadFieldType(b'_')));
}

#[test]
fn duplicate_and_unsorted_keys_keep_wire_order_unlike_amq_protocol() {
    // z=1, a=2, z=3: RabbitMQ keeps all three in order; so do we.
    let wire = b"\x00\x00\x00\x0c\x01zB\x01\x01aB\x02\x01zB\x03";
    let ours = ours_read_table(&wire[..]).unwrap();
    let pairs: Vec<_> = ours.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    use FieldValue::U8;
    assert_eq!(pairs, [("z".into(), U8(1)), ("a".into(), U8(2)), ("z".into(), U8(3))]);
    assert_eq!(ours_table_bytes(&ours), wire);
    // amq-protocol sorts and keeps the last duplicate: documented, not ours.
    let theirs = amq_read_table(&wire[..]);
    let keys: Vec<_> = theirs.inner().iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
    assert_eq!(keys, [("a".into(), AMQPValue::ShortShortUInt(2)), ("z".into(), AMQPValue::ShortShortUInt(3))]);
}

#[test]
fn table_key_longer_than_a_short_string_is_cut_consistently() {
    // 300 octets of 2-octet characters: the key is cut to 254 octets (a
    // character boundary), and the table's length prefix must count 254.
    // `encoded_len` used to count 255, corrupting the prefix; fixed.
    let long_key = "é".repeat(150);
    let t = FieldTable::from([(long_key.as_str(), FieldValue::U8(1)), ("next", FieldValue::U8(2))]);
    let wire = ours_table_bytes(&t);
    assert_eq!(t.encoded_len(), wire.len());
    let cut = "é".repeat(127);
    let expected = FieldTable::from([(cut.as_str(), FieldValue::U8(1)), ("next", FieldValue::U8(2))]);
    assert_eq!(ours_read_table(&wire), Ok(expected.clone()));
    assert_eq!(amq_read_table(&wire), amq_table(&expected));
}

// ---------------------------------------------------------------------------
// Content headers, bodies, heartbeats.

const PROPERTY_COUNT: u32 = 14;

/// The properties whose bit `i` (content-type first) is set in `mask`.
fn properties(mask: u16) -> (BasicProperties, AmqProps) {
    let mut ours = BasicProperties::default();
    let mut amq = AmqProps::default();
    let mut i = 0;
    macro_rules! prop {
        ($field:ident, $with:ident, $v:expr) => {
            if mask & (1 << i) != 0 {
                ours.$field = Some(To::to(&$v));
                amq = amq.$with(To::to(&$v));
            }
            i += 1;
        };
    }
    prop!(content_type, with_content_type, "application/json; charset=utf-8");
    prop!(content_encoding, with_content_encoding, "gzip");
    // The big table only where few subsets use it, to keep the 2^14 loop quick.
    prop!(headers, with_headers, if mask.count_ones() % 4 == 2 { every_type() } else { args(mask as u8) });
    prop!(delivery_mode, with_delivery_mode, 2u8);
    prop!(priority, with_priority, u8::MAX);
    prop!(correlation_id, with_correlation_id, max_short());
    prop!(reply_to, with_reply_to, "amq.rabbitmq.reply-to.g1h2AA==");
    prop!(expiration, with_expiration, "60000");
    prop!(message_id, with_message_id, "msg-ünï-\u{1F407}");
    prop!(timestamp, with_timestamp, u64::MAX - mask as u64);
    prop!(kind, with_type, "order.created");
    prop!(user_id, with_user_id, "guest");
    prop!(app_id, with_app_id, ""); // present but empty
    prop!(cluster_id, with_cluster_id, "c1");
    assert_eq!(i, PROPERTY_COUNT);
    (ours, amq)
}

#[test]
fn content_headers_with_every_property_subset_cross_decode() {
    for mask in 0..(1u16 << PROPERTY_COUNT) {
        let (ours, amq) = properties(mask);
        let channel = mask.rotate_left(3);
        let body_size = u64::MAX >> (mask % 64);
        let header = AMQPFrame::Header(channel, AMQPContentHeader { class_id: 60, body_size, properties: amq });

        // amq-protocol -> us, and identical octets.
        let wire = amq_encode(&header);
        let Frame::Header { channel: ch, header: h } = ours_decode(&wire) else { panic!("not a header") };
        assert_eq!((ch, h.class_id, h.body_size), (channel, 60, body_size));
        assert_eq!(BasicProperties::decode(h.properties.clone()).as_ref(), Ok(&ours), "mask {mask:#06x}");
        let scan = PropertiesScan::scan(&h.properties).unwrap();
        assert_eq!(scan.delivery_mode, ours.delivery_mode.unwrap_or(0));
        assert_eq!(scan.priority, ours.priority);
        assert_eq!(scan.has_headers, ours.headers.is_some());
        assert_eq!(PropertiesScan::text(&h.properties, scan.expiration), ours.expiration.as_deref());
        assert_eq!(PropertiesScan::text(&h.properties, scan.reply_to), ours.reply_to.as_deref());
        assert_eq!(PropertiesScan::text(&h.properties, scan.user_id), ours.user_id.as_deref());
        let ours_wire = ours_encode(|out| write_content_header(out, channel, 60, body_size, &ours.to_bytes()));
        assert_eq!(ours_wire, wire, "mask {mask:#06x}");

        // us -> amq-protocol.
        assert_eq!(amq_decode(&ours_wire), header, "mask {mask:#06x}");
    }
}

#[test]
fn body_frames_cross_decode() {
    let big: Vec<u8> = (0..131_064u32).map(|i| (i * 31 % 251) as u8).collect();
    let bodies: [&[u8]; 5] = [b"", b"x", b"\xce\xce\x00\x08\xce", b"hello, world", &big];
    for (i, body) in bodies.into_iter().enumerate() {
        let channel = channel_for(i + 1);
        let wire = amq_encode(&AMQPFrame::Body(channel, body.to_vec()));
        assert_eq!(ours_decode(&wire), Frame::Body { channel, payload: bytes(body) });
        let ours = ours_encode(|out| Frame::Body { channel, payload: bytes(body) }.encode(out));
        assert_eq!(ours, wire);
        assert_eq!(amq_decode(&ours), AMQPFrame::Body(channel, body.to_vec()));
    }

    // write_body splits at frame_max; amq-protocol reads each piece.
    let wire = ours_encode(|out| write_body(out, 9, &big, 4096));
    let (mut rest, mut joined, mut frames) = (&wire[..], Vec::new(), 0);
    while !rest.is_empty() {
        let (next, frame) = parse_frame(rest).expect("amq-protocol reads a body piece");
        assert!(rest.len() - next.len() <= 4096, "piece exceeds frame_max");
        let AMQPFrame::Body(9, piece) = frame else { panic!("not a body on channel 9: {frame:?}") };
        joined.extend_from_slice(&piece);
        (rest, frames) = (next, frames + 1);
    }
    assert_eq!((joined, frames), (big.clone(), big.len().div_ceil(4096 - 8)));
}

#[test]
fn heartbeat_frames_cross_decode() {
    let wire = amq_encode(&AMQPFrame::Heartbeat);
    assert_eq!(ours_decode(&wire), Frame::Heartbeat { channel: 0 });
    let ours = ours_encode(write_heartbeat);
    assert_eq!(ours, wire);
    assert_eq!(amq_decode(&ours), AMQPFrame::Heartbeat);
    // A heartbeat on a non-zero channel is a protocol error for the caller to
    // judge; both codecs keep the channel rather than dropping the frame.
    let wire = amq_encode(&AMQPFrame::InvalidHeartbeat(5));
    assert_eq!(ours_decode(&wire), Frame::Heartbeat { channel: 5 });
    let ours = ours_encode(|out| Frame::Heartbeat { channel: 5 }.encode(out));
    assert_eq!(amq_decode(&ours), AMQPFrame::InvalidHeartbeat(5));
}

#[test]
fn protocol_header_matches() {
    let wire = amq_encode(&AMQPFrame::ProtocolHeader(ProtocolVersion::amqp_0_9_1()));
    assert_eq!(wire, PROTOCOL_HEADER);
    assert_eq!(amq_decode(&PROTOCOL_HEADER), AMQPFrame::ProtocolHeader(ProtocolVersion::amqp_0_9_1()));
}
