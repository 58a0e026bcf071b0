//! Queue arguments (`x-message-ttl`, `x-max-length`, `x-dead-letter-*`,
//! `x-queue-type`, …) parsed into a typed [`QueueConfig`] at declare time,
//! refused with RabbitMQ's exact 406 texts when malformed.

use crate::amqp::{FieldTable, FieldValue, ShortStr};
use crate::error::{resource, AmqpError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    #[default]
    DropHead,
    RejectPublish,
    RejectPublishDlx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueKind {
    #[default]
    Classic,
    /// Accepted on one node with the rules that make sense there: durable,
    /// not exclusive, a delivery limit and an `x-delivery-count` header.
    Quorum,
}

/// The behaviour a queue's arguments ask for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueConfig {
    pub kind: QueueKind,
    pub message_ttl: Option<u64>,
    pub expires: Option<u64>,
    pub max_length: Option<u64>,
    pub max_length_bytes: Option<u64>,
    pub overflow: Overflow,
    pub dead_letter_exchange: Option<ShortStr>,
    pub dead_letter_routing_key: Option<ShortStr>,
    pub max_priority: Option<u8>,
    pub single_active_consumer: bool,
    pub delivery_limit: Option<u64>,
    /// `x-queue-mode: lazy`: persisted messages leave memory as soon as
    /// they are on disk, however short the queue.
    pub lazy: bool,
}

/// The properties a declare asks for besides its arguments.
pub struct DeclareFlags {
    pub durable: bool,
    pub exclusive: bool,
    pub auto_delete: bool,
}

impl QueueConfig {
    /// Validates `args` like RabbitMQ 3.10 and returns the queue's config.
    pub fn parse(args: &FieldTable, flags: &DeclareFlags, name: &str, vhost: &str) -> Result<QueueConfig> {
        let queue = resource("queue", name, vhost);
        let invalid = |arg: &str, why: &dyn core::fmt::Display| {
            AmqpError::precondition_failed(format_args!("invalid arg '{arg}' for {queue}: {why}"))
        };
        let kind = match args.get("x-queue-type") {
            None => QueueKind::Classic,
            Some(FieldValue::LongStr(s)) => match &s[..] {
                b"classic" => QueueKind::Classic,
                b"quorum" | b"stream" => {
                    // Property checks come first, with RabbitMQ's wording.
                    for (bad, what) in
                        [(!flags.durable, "non-durable"), (flags.exclusive, "exclusive-owner"), (flags.auto_delete, "auto-delete")]
                    {
                        if bad {
                            return Err(AmqpError::precondition_failed(format_args!("invalid property '{what}' for {queue}")));
                        }
                    }
                    if &s[..] == b"stream" {
                        return Err(AmqpError::not_implemented("queue type 'stream' is not implemented by Warren yet"));
                    }
                    QueueKind::Quorum
                }
                other => {
                    let t = String::from_utf8_lossy(other);
                    return Err(invalid("x-queue-type", &format_args!("\"unsupported queue type '{t}'\"")));
                }
            },
            Some(v) => return Err(invalid("x-queue-type", &unacceptable(v))),
        };
        let type_name = match kind {
            QueueKind::Classic => "rabbit_classic_queue",
            QueueKind::Quorum => "rabbit_quorum_queue",
        };
        let unsupported: &[&str] = match kind {
            QueueKind::Classic => &["x-delivery-limit"],
            QueueKind::Quorum => &["x-max-priority", "x-queue-mode"],
        };
        for arg in unsupported {
            if args.get(arg).is_some() {
                return Err(AmqpError::precondition_failed(format_args!("invalid arg '{arg}' for {queue} of queue type {type_name}")));
            }
        }

        let int = |arg: &str, positive: bool| -> Result<Option<u64>> {
            let Some(v) = args.get(arg) else { return Ok(None) };
            let Some(n) = v.as_i64() else {
                return Err(invalid(arg, &format_args!("\"expected integer, got {}\"", type_name_of(v))));
            };
            if n < 0 {
                return Err(invalid(arg, &format_args!("{{value_negative,{n}}}")));
            }
            if n == 0 && positive {
                return Err(invalid(arg, &format_args!("{{value_zero,{n}}}")));
            }
            Ok(Some(n as u64))
        };
        let string = |arg: &str| -> Result<Option<ShortStr>> {
            match args.get(arg) {
                None => Ok(None),
                Some(FieldValue::LongStr(s)) => Ok(Some(ShortStr::from(String::from_utf8_lossy(s).into_owned()))),
                Some(v) => {
                    Err(AmqpError::precondition_failed(format_args!("invalid type '{}' for arg '{arg}' in {queue}", type_name_of(v))))
                }
            }
        };

        let mut cfg = QueueConfig {
            kind,
            expires: int("x-expires", true)?,
            message_ttl: int("x-message-ttl", false)?,
            max_length: int("x-max-length", false)?,
            max_length_bytes: int("x-max-length-bytes", false)?,
            ..QueueConfig::default()
        };
        if let Some(p) = int("x-max-priority", false)? {
            if p > 255 {
                return Err(invalid("x-max-priority", &format_args!("{{max_value_exceeded,{p}}}")));
            }
            cfg.max_priority = Some(p as u8);
        }
        cfg.overflow = match args.get("x-overflow") {
            None => Overflow::DropHead,
            Some(FieldValue::LongStr(s)) => match &s[..] {
                b"drop-head" => Overflow::DropHead,
                b"reject-publish" => Overflow::RejectPublish,
                b"reject-publish-dlx" => Overflow::RejectPublishDlx,
                _ => return Err(invalid("x-overflow", &"invalid_overflow")),
            },
            Some(v) => return Err(invalid("x-overflow", &unacceptable(v))),
        };
        cfg.dead_letter_exchange = string("x-dead-letter-exchange")?;
        cfg.dead_letter_routing_key = match args.get("x-dead-letter-routing-key") {
            None => None,
            Some(FieldValue::LongStr(s)) => Some(ShortStr::from(String::from_utf8_lossy(s).into_owned())),
            // Unlike the exchange, RabbitMQ words this one as an invalid arg.
            Some(v) => return Err(invalid("x-dead-letter-routing-key", &unacceptable(v))),
        };
        if kind == QueueKind::Quorum {
            match args.get("x-dead-letter-strategy") {
                None => {}
                Some(FieldValue::LongStr(s)) if &s[..] == b"at-most-once" || &s[..] == b"at-least-once" => {}
                Some(_) => return Err(invalid("x-dead-letter-strategy", &"invalid_dlx_strategy")),
            }
        }
        if cfg.dead_letter_routing_key.is_some() && cfg.dead_letter_exchange.is_none() {
            return Err(invalid("x-dead-letter-routing-key", &"routing_key_but_no_dlx_defined"));
        }
        cfg.single_active_consumer = match args.get("x-single-active-consumer") {
            None => false,
            Some(FieldValue::Bool(b)) => *b,
            Some(v) => return Err(invalid("x-single-active-consumer", &unacceptable(v))),
        };
        match args.get("x-queue-mode") {
            None => {}
            Some(FieldValue::LongStr(s)) if &s[..] == b"default" => {}
            Some(FieldValue::LongStr(s)) if &s[..] == b"lazy" => cfg.lazy = true,
            Some(FieldValue::LongStr(s)) => {
                let m = String::from_utf8_lossy(s);
                return Err(invalid("x-queue-mode", &format_args!("\"unsupported queue mode '{m}'\"")));
            }
            Some(v) => return Err(invalid("x-queue-mode", &unacceptable(v))),
        }
        // RabbitMQ 3.10 does not type-check x-delivery-limit; a non-integer means none.
        cfg.delivery_limit = args.get("x-delivery-limit").and_then(FieldValue::as_i64).map(|n| n.max(0) as u64);
        Ok(cfg)
    }
}

fn unacceptable(v: &FieldValue) -> String {
    format!("{{unacceptable_type,{}}}", type_name_of(v))
}

/// RabbitMQ's names for field types, as they appear in error texts.
pub use crate::amqp::erlang::type_name as type_name_of;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[(&str, FieldValue)], durable: bool) -> core::result::Result<QueueConfig, String> {
        let mut t = FieldTable::new();
        for (k, v) in args {
            t.insert(k, v.clone());
        }
        let flags = DeclareFlags { durable, exclusive: false, auto_delete: false };
        QueueConfig::parse(&t, &flags, "q", "/").map_err(|e| e.text)
    }

    // Texts checked against RabbitMQ 3.10 with pika.
    #[test]
    fn errors_match_rabbitmq() {
        let cases: &[(&str, FieldValue, &str)] = &[
            ("x-expires", FieldValue::I32(0), "invalid arg 'x-expires' for queue 'q' in vhost '/': {value_zero,0}"),
            ("x-message-ttl", FieldValue::I32(-1), "invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}"),
            (
                "x-max-length",
                FieldValue::str("x"),
                "invalid arg 'x-max-length' for queue 'q' in vhost '/': \"expected integer, got longstr\"",
            ),
            ("x-max-priority", FieldValue::I32(256), "invalid arg 'x-max-priority' for queue 'q' in vhost '/': {max_value_exceeded,256}"),
            ("x-overflow", FieldValue::str("bogus"), "invalid arg 'x-overflow' for queue 'q' in vhost '/': invalid_overflow"),
            ("x-overflow", FieldValue::I32(1), "invalid arg 'x-overflow' for queue 'q' in vhost '/': {unacceptable_type,signedint}"),
            (
                "x-dead-letter-routing-key",
                FieldValue::str("k"),
                "invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': routing_key_but_no_dlx_defined",
            ),
            (
                "x-dead-letter-exchange",
                FieldValue::I32(123),
                "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'",
            ),
            (
                "x-queue-type",
                FieldValue::str("bogus"),
                "invalid arg 'x-queue-type' for queue 'q' in vhost '/': \"unsupported queue type 'bogus'\"",
            ),
            (
                "x-single-active-consumer",
                FieldValue::str("yes"),
                "invalid arg 'x-single-active-consumer' for queue 'q' in vhost '/': {unacceptable_type,longstr}",
            ),
            (
                "x-queue-mode",
                FieldValue::str("bogus"),
                "invalid arg 'x-queue-mode' for queue 'q' in vhost '/': \"unsupported queue mode 'bogus'\"",
            ),
            (
                "x-delivery-limit",
                FieldValue::I32(3),
                "invalid arg 'x-delivery-limit' for queue 'q' in vhost '/' of queue type rabbit_classic_queue",
            ),
        ];
        for (k, v, want) in cases {
            assert_eq!(parse(&[(k, v.clone())], false).unwrap_err(), format!("PRECONDITION_FAILED - {want}"), "{k}");
        }
        assert_eq!(
            parse(&[("x-queue-type", FieldValue::str("quorum"))], false).unwrap_err(),
            "PRECONDITION_FAILED - invalid property 'non-durable' for queue 'q' in vhost '/'"
        );
        assert_eq!(
            parse(&[("x-queue-type", FieldValue::str("quorum")), ("x-max-priority", FieldValue::I32(5))], true).unwrap_err(),
            "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'q' in vhost '/' of queue type rabbit_quorum_queue"
        );
        assert!(parse(&[("x-queue-type", FieldValue::str("stream"))], true).unwrap_err().starts_with("NOT_IMPLEMENTED"));
    }

    #[test]
    fn accepted_values() {
        let c = parse(
            &[
                ("x-message-ttl", FieldValue::I64(0)),
                ("x-max-priority", FieldValue::U8(10)),
                ("x-overflow", FieldValue::str("reject-publish-dlx")),
                ("x-dead-letter-exchange", FieldValue::str("dlx")),
                ("x-single-active-consumer", FieldValue::Bool(true)),
                ("x-foo", FieldValue::I32(1)),
            ],
            false,
        )
        .unwrap();
        assert_eq!(c.message_ttl, Some(0));
        assert_eq!(c.max_priority, Some(10));
        assert_eq!(c.overflow, Overflow::RejectPublishDlx);
        assert_eq!(c.dead_letter_exchange.as_deref(), Some("dlx"));
        assert!(c.single_active_consumer);
        let q = parse(&[("x-queue-type", FieldValue::str("quorum")), ("x-delivery-limit", FieldValue::I32(2))], true).unwrap();
        assert_eq!((q.kind, q.delivery_limit), (QueueKind::Quorum, Some(2)));
    }
}
