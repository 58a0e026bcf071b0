//! Every method of the classes connection, channel, access, exchange, queue,
//! basic, confirm and tx, with RabbitMQ's extensions, written as one
//! declarative table. The `methods!` macro turns each row into a struct with
//! `decode`/`encode` and a variant of [`Method`].
//!
//! Field types: `bool` is an AMQP `bit` (consecutive bits share an octet),
//! `u8`/`u16`/`u32`/`u64` are octet/short/long/longlong (and timestamp),
//! [`ShortStr`], [`LongStr`] and [`FieldTable`] are what they say.

use bytes::{BufMut, Bytes};

use super::table::FieldTable;
use super::wire::{Field, LongStr, Reader, ShortStr, Writer};
use super::DecodeError;

macro_rules! methods {
    ($(
        $class:literal $method:literal $name:ident $text:literal $content:literal
            { $( $field:ident : $ty:ty ),* $(,)? }
    )*) => {
        $(
            #[doc = concat!("`", $text, "`")]
            #[derive(Debug, Clone, PartialEq, Default)]
            pub struct $name { $( pub $field: $ty, )* }

            impl $name {
                pub const CLASS_ID: u16 = $class;
                pub const METHOD_ID: u16 = $method;

                #[allow(unused_variables)]
                fn decode_args(r: &mut Reader) -> Result<Self, DecodeError> {
                    // Struct expressions evaluate fields in the order written.
                    Ok($name { $( $field: <$ty as Field>::read(r)?, )* })
                }

                #[allow(unused_variables)]
                fn encode_args<B: BufMut>(&self, w: &mut Writer<'_, B>) {
                    $( Field::write(&self.$field, w); )*
                }
            }

            impl From<$name> for Method {
                fn from(m: $name) -> Method { Method::$name(m) }
            }
        )*

        /// A decoded AMQP method.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Method { $( $name($name), )* }

        impl Method {
            /// Decodes a method frame payload (class id, method id, arguments).
            /// Unknown ids give [`DecodeError::UnknownMethod`] so the caller can
            /// answer 540 NOT_IMPLEMENTED.
            pub fn decode(payload: Bytes) -> Result<Method, DecodeError> {
                let mut r = Reader::new(payload);
                let class_id = r.u16()?;
                let method_id = r.u16()?;
                match (class_id, method_id) {
                    $( ($class, $method) => Ok(Method::$name($name::decode_args(&mut r)?)), )*
                    _ => Err(DecodeError::UnknownMethod { class_id, method_id }),
                }
            }

            /// Writes class id, method id and arguments.
            pub fn encode<B: BufMut>(&self, buf: &mut B) {
                let mut w = Writer::new(buf);
                let (c, m) = self.ids();
                w.u16(c);
                w.u16(m);
                match self { $( Method::$name(x) => x.encode_args(&mut w), )* }
                w.finish();
            }

            pub fn ids(&self) -> (u16, u16) {
                match self { $( Method::$name(_) => ($class, $method), )* }
            }

            /// The spec's name, e.g. `basic.publish`.
            pub fn name(&self) -> &'static str {
                match self { $( Method::$name(_) => $text, )* }
            }

            /// Whether a content header and body follow this method.
            pub fn has_content(&self) -> bool {
                match self { $( Method::$name(_) => $content, )* }
            }

            /// The spec's name for a pair of ids, if known.
            pub fn name_of(class_id: u16, method_id: u16) -> Option<&'static str> {
                match (class_id, method_id) { $( ($class, $method) => Some($text), )* _ => None }
            }

            /// One default-valued instance of every method (for tests).
            pub fn all_defaults() -> Vec<Method> {
                vec![ $( Method::$name($name::default()), )* ]
            }
        }
    };
}

methods! {
    // connection (10)
    10 10 ConnectionStart "connection.start" false {
        version_major: u8, version_minor: u8, server_properties: FieldTable,
        mechanisms: LongStr, locales: LongStr }
    10 11 ConnectionStartOk "connection.start-ok" false {
        client_properties: FieldTable, mechanism: ShortStr, response: LongStr, locale: ShortStr }
    10 20 ConnectionSecure "connection.secure" false { challenge: LongStr }
    10 21 ConnectionSecureOk "connection.secure-ok" false { response: LongStr }
    10 30 ConnectionTune "connection.tune" false { channel_max: u16, frame_max: u32, heartbeat: u16 }
    10 31 ConnectionTuneOk "connection.tune-ok" false { channel_max: u16, frame_max: u32, heartbeat: u16 }
    10 40 ConnectionOpen "connection.open" false { virtual_host: ShortStr, capabilities: ShortStr, insist: bool }
    10 41 ConnectionOpenOk "connection.open-ok" false { known_hosts: ShortStr }
    10 50 ConnectionClose "connection.close" false {
        reply_code: u16, reply_text: ShortStr, class_id: u16, method_id: u16 }
    10 51 ConnectionCloseOk "connection.close-ok" false {}
    10 60 ConnectionBlocked "connection.blocked" false { reason: ShortStr }
    10 61 ConnectionUnblocked "connection.unblocked" false {}
    10 70 ConnectionUpdateSecret "connection.update-secret" false { new_secret: LongStr, reason: ShortStr }
    10 71 ConnectionUpdateSecretOk "connection.update-secret-ok" false {}

    // channel (20)
    20 10 ChannelOpen "channel.open" false { out_of_band: ShortStr }
    20 11 ChannelOpenOk "channel.open-ok" false { channel_id: LongStr }
    20 20 ChannelFlow "channel.flow" false { active: bool }
    20 21 ChannelFlowOk "channel.flow-ok" false { active: bool }
    20 40 ChannelClose "channel.close" false {
        reply_code: u16, reply_text: ShortStr, class_id: u16, method_id: u16 }
    20 41 ChannelCloseOk "channel.close-ok" false {}

    // access (30): deprecated, still sent by some old clients
    30 10 AccessRequest "access.request" false {
        realm: ShortStr, exclusive: bool, passive: bool, active: bool, write: bool, read: bool }
    30 11 AccessRequestOk "access.request-ok" false { ticket: u16 }

    // exchange (40)
    40 10 ExchangeDeclare "exchange.declare" false {
        ticket: u16, exchange: ShortStr, kind: ShortStr, passive: bool, durable: bool,
        auto_delete: bool, internal: bool, nowait: bool, arguments: FieldTable }
    40 11 ExchangeDeclareOk "exchange.declare-ok" false {}
    40 20 ExchangeDelete "exchange.delete" false {
        ticket: u16, exchange: ShortStr, if_unused: bool, nowait: bool }
    40 21 ExchangeDeleteOk "exchange.delete-ok" false {}
    40 30 ExchangeBind "exchange.bind" false {
        ticket: u16, destination: ShortStr, source: ShortStr, routing_key: ShortStr,
        nowait: bool, arguments: FieldTable }
    40 31 ExchangeBindOk "exchange.bind-ok" false {}
    40 40 ExchangeUnbind "exchange.unbind" false {
        ticket: u16, destination: ShortStr, source: ShortStr, routing_key: ShortStr,
        nowait: bool, arguments: FieldTable }
    // RabbitMQ numbers unbind-ok 51, not 41.
    40 51 ExchangeUnbindOk "exchange.unbind-ok" false {}

    // queue (50)
    50 10 QueueDeclare "queue.declare" false {
        ticket: u16, queue: ShortStr, passive: bool, durable: bool, exclusive: bool,
        auto_delete: bool, nowait: bool, arguments: FieldTable }
    50 11 QueueDeclareOk "queue.declare-ok" false { queue: ShortStr, message_count: u32, consumer_count: u32 }
    50 20 QueueBind "queue.bind" false {
        ticket: u16, queue: ShortStr, exchange: ShortStr, routing_key: ShortStr,
        nowait: bool, arguments: FieldTable }
    50 21 QueueBindOk "queue.bind-ok" false {}
    50 30 QueuePurge "queue.purge" false { ticket: u16, queue: ShortStr, nowait: bool }
    50 31 QueuePurgeOk "queue.purge-ok" false { message_count: u32 }
    50 40 QueueDelete "queue.delete" false {
        ticket: u16, queue: ShortStr, if_unused: bool, if_empty: bool, nowait: bool }
    50 41 QueueDeleteOk "queue.delete-ok" false { message_count: u32 }
    50 50 QueueUnbind "queue.unbind" false {
        ticket: u16, queue: ShortStr, exchange: ShortStr, routing_key: ShortStr, arguments: FieldTable }
    50 51 QueueUnbindOk "queue.unbind-ok" false {}

    // basic (60)
    60 10 BasicQos "basic.qos" false { prefetch_size: u32, prefetch_count: u16, global: bool }
    60 11 BasicQosOk "basic.qos-ok" false {}
    60 20 BasicConsume "basic.consume" false {
        ticket: u16, queue: ShortStr, consumer_tag: ShortStr, no_local: bool, no_ack: bool,
        exclusive: bool, nowait: bool, arguments: FieldTable }
    60 21 BasicConsumeOk "basic.consume-ok" false { consumer_tag: ShortStr }
    60 30 BasicCancel "basic.cancel" false { consumer_tag: ShortStr, nowait: bool }
    60 31 BasicCancelOk "basic.cancel-ok" false { consumer_tag: ShortStr }
    60 40 BasicPublish "basic.publish" true {
        ticket: u16, exchange: ShortStr, routing_key: ShortStr, mandatory: bool, immediate: bool }
    60 50 BasicReturn "basic.return" true {
        reply_code: u16, reply_text: ShortStr, exchange: ShortStr, routing_key: ShortStr }
    60 60 BasicDeliver "basic.deliver" true {
        consumer_tag: ShortStr, delivery_tag: u64, redelivered: bool, exchange: ShortStr,
        routing_key: ShortStr }
    60 70 BasicGet "basic.get" false { ticket: u16, queue: ShortStr, no_ack: bool }
    60 71 BasicGetOk "basic.get-ok" true {
        delivery_tag: u64, redelivered: bool, exchange: ShortStr, routing_key: ShortStr,
        message_count: u32 }
    60 72 BasicGetEmpty "basic.get-empty" false { cluster_id: ShortStr }
    60 80 BasicAck "basic.ack" false { delivery_tag: u64, multiple: bool }
    60 90 BasicReject "basic.reject" false { delivery_tag: u64, requeue: bool }
    60 100 BasicRecoverAsync "basic.recover-async" false { requeue: bool }
    60 110 BasicRecover "basic.recover" false { requeue: bool }
    60 111 BasicRecoverOk "basic.recover-ok" false {}
    60 120 BasicNack "basic.nack" false { delivery_tag: u64, multiple: bool, requeue: bool }

    // confirm (85)
    85 10 ConfirmSelect "confirm.select" false { nowait: bool }
    85 11 ConfirmSelectOk "confirm.select-ok" false {}

    // tx (90)
    90 10 TxSelect "tx.select" false {}
    90 11 TxSelectOk "tx.select-ok" false {}
    90 20 TxCommit "tx.commit" false {}
    90 21 TxCommitOk "tx.commit-ok" false {}
    90 30 TxRollback "tx.rollback" false {}
    90 31 TxRollbackOk "tx.rollback-ok" false {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::table::FieldValue;
    use bytes::BytesMut;

    fn round_trip(m: &Method) -> Method {
        let mut buf = BytesMut::new();
        m.encode(&mut buf);
        Method::decode(buf.freeze()).unwrap()
    }

    #[test]
    fn every_method_round_trips_with_defaults() {
        let all = Method::all_defaults();
        assert_eq!(all.len(), 66);
        for m in &all {
            assert_eq!(&round_trip(m), m, "{}", m.name());
            let (c, i) = m.ids();
            assert_eq!(Method::name_of(c, i), Some(m.name()));
        }
    }

    #[test]
    fn bit_packing_matches_the_spec_layout() {
        // queue.declare: ticket, queue, then five bits in one octet, then the table.
        let m = Method::QueueDeclare(QueueDeclare {
            ticket: 0,
            queue: "q".into(),
            passive: false,
            durable: true,
            exclusive: false,
            auto_delete: true,
            nowait: true,
            arguments: FieldTable::from([("x-max-priority", FieldValue::U8(5))]),
        });
        let mut buf = BytesMut::new();
        m.encode(&mut buf);
        assert_eq!(&buf[..9], &[0, 50, 0, 10, 0, 0, 1, b'q', 0b11010]);
        assert_eq!(round_trip(&m), m);
    }

    #[test]
    fn non_default_values_round_trip() {
        let ms: Vec<Method> = vec![
            ConnectionTune { channel_max: 2047, frame_max: 131072, heartbeat: 60 }.into(),
            ConnectionClose { reply_code: 320, reply_text: "bye".into(), class_id: 60, method_id: 40 }.into(),
            BasicDeliver {
                consumer_tag: "ctag".into(),
                delivery_tag: u64::MAX,
                redelivered: true,
                exchange: "ex".into(),
                routing_key: "a.b".into(),
            }
            .into(),
            BasicNack { delivery_tag: 9, multiple: true, requeue: false }.into(),
            ExchangeDeclare { exchange: "e".into(), kind: "topic".into(), durable: true, internal: true, ..Default::default() }.into(),
            ConnectionStartOk {
                client_properties: FieldTable::from([("product", FieldValue::str("x"))]),
                mechanism: "PLAIN".into(),
                response: Bytes::from_static(b"\0guest\0guest"),
                locale: "en_US".into(),
            }
            .into(),
        ];
        for m in &ms {
            assert_eq!(&round_trip(m), m);
        }
    }

    #[test]
    fn unknown_and_truncated_methods_are_errors() {
        assert_eq!(Method::decode(Bytes::from_static(&[0, 60, 0, 99])), Err(DecodeError::UnknownMethod { class_id: 60, method_id: 99 }));
        assert_eq!(Method::decode(Bytes::from_static(&[0, 60, 0, 80, 0])), Err(DecodeError::Truncated));
        assert_eq!(Method::decode(Bytes::from_static(&[0])), Err(DecodeError::Truncated));
    }
}
