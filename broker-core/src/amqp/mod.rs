//! The AMQP 0-9-1 wire codec with RabbitMQ's extensions.
//!
//! Owns: frames ([`frame`]), the method table ([`method`]), field tables
//! ([`table`]), basic properties ([`properties`]), reply codes, and how
//! RabbitMQ's reply texts print field values ([`erlang`]). It knows
//! nothing of connections or queues and never panics on peer input: every
//! decode is bounds-checked and returns a [`DecodeError`].

pub mod erlang;
pub mod frame;
pub mod method;
pub mod properties;
pub mod table;
pub mod wire;

pub use frame::{ContentHeader, Frame, FrameError, FrameType, RawFrame, FRAME_MIN_SIZE, PROTOCOL_HEADER};
pub use method::Method;
pub use properties::{BasicProperties, PropertiesScan};
pub use table::{FieldTable, FieldValue};
pub use wire::{LongStr, ShortStr};

/// The basic class id, the only class that carries content.
pub const CLASS_BASIC: u16 = 60;

/// Why a payload could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload ended before a field did.
    Truncated,
    /// A short string is not UTF-8.
    InvalidUtf8,
    /// A field-table value has a type octet we do not know.
    BadFieldType(u8),
    /// Tables or arrays nest deeper than [`table::MAX_TABLE_DEPTH`].
    TooDeep,
    /// Property flags use bits the basic class does not define.
    BadPropertyFlags,
    UnknownMethod {
        class_id: u16,
        method_id: u16,
    },
    UnknownFrameType(u8),
}

impl DecodeError {
    /// The reply code RabbitMQ closes the connection with for this error:
    /// RabbitMQ 3.10 answers any frame it cannot decode (truncated fields,
    /// a shortstr that is not UTF-8, a bad field type) with 501 FRAME_ERROR.
    pub fn reply_code(self) -> ReplyCode {
        match self {
            DecodeError::UnknownMethod { .. } => ReplyCode::NotImplemented,
            _ => ReplyCode::FrameError,
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated payload"),
            DecodeError::InvalidUtf8 => f.write_str("short string is not valid UTF-8"),
            DecodeError::BadFieldType(t) => write!(f, "unknown field table type 0x{t:02x}"),
            DecodeError::TooDeep => f.write_str("field tables nested too deeply"),
            DecodeError::BadPropertyFlags => f.write_str("unknown content property flags"),
            DecodeError::UnknownMethod { class_id, method_id } => {
                write!(f, "unknown method class={class_id} method={method_id}")
            }
            DecodeError::UnknownFrameType(t) => write!(f, "unknown frame type {t}"),
        }
    }
}

macro_rules! reply_codes {
    ($( $name:ident = $value:literal, $text:literal, $hard:literal; )*) => {
        /// AMQP reply codes, with unknown values kept as data.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ReplyCode { $( $name, )* Unknown(u16) }

        impl ReplyCode {
            /// The constant's name as RabbitMQ prints it in reply texts.
            pub fn name(self) -> &'static str {
                match self { $( ReplyCode::$name => $text, )* ReplyCode::Unknown(_) => "UNKNOWN" }
            }
            /// Whether the spec classes this code as a connection (hard) error.
            pub fn is_hard(self) -> bool {
                match self { $( ReplyCode::$name => $hard, )* ReplyCode::Unknown(_) => true }
            }
        }
        impl From<u16> for ReplyCode {
            fn from(v: u16) -> Self { match v { $( $value => ReplyCode::$name, )* other => ReplyCode::Unknown(other) } }
        }
        impl From<ReplyCode> for u16 {
            fn from(c: ReplyCode) -> u16 { match c { $( ReplyCode::$name => $value, )* ReplyCode::Unknown(v) => v } }
        }
    };
}

reply_codes! {
    Success = 200, "OK", false;
    ContentTooLarge = 311, "CONTENT_TOO_LARGE", false;
    NoRoute = 312, "NO_ROUTE", false;
    NoConsumers = 313, "NO_CONSUMERS", false;
    ConnectionForced = 320, "CONNECTION_FORCED", true;
    InvalidPath = 402, "INVALID_PATH", true;
    AccessRefused = 403, "ACCESS_REFUSED", false;
    NotFound = 404, "NOT_FOUND", false;
    ResourceLocked = 405, "RESOURCE_LOCKED", false;
    PreconditionFailed = 406, "PRECONDITION_FAILED", false;
    FrameError = 501, "FRAME_ERROR", true;
    SyntaxError = 502, "SYNTAX_ERROR", true;
    CommandInvalid = 503, "COMMAND_INVALID", true;
    ChannelError = 504, "CHANNEL_ERROR", true;
    UnexpectedFrame = 505, "UNEXPECTED_FRAME", true;
    ResourceError = 506, "RESOURCE_ERROR", true;
    NotAllowed = 530, "NOT_ALLOWED", true;
    NotImplemented = 540, "NOT_IMPLEMENTED", true;
    InternalError = 541, "INTERNAL_ERROR", true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_map_both_ways_and_keep_unknowns() {
        for v in [200u16, 311, 312, 313, 320, 402, 403, 404, 405, 406, 501, 502, 503, 504, 505, 506, 530, 540, 541] {
            assert_eq!(u16::from(ReplyCode::from(v)), v);
            assert!(!matches!(ReplyCode::from(v), ReplyCode::Unknown(_)));
        }
        assert_eq!(ReplyCode::from(999), ReplyCode::Unknown(999));
        assert!(ReplyCode::NotAllowed.is_hard());
        assert!(!ReplyCode::NotFound.is_hard());
    }
}
