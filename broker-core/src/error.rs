//! Protocol errors as values: each carries its reply code, the text sent to
//! the peer, the method that caused it, and so whether it closes the channel
//! (soft) or the whole connection (hard).

use crate::amqp::ReplyCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpError {
    pub code: ReplyCode,
    /// Full reply text, already prefixed with the code's name as RabbitMQ does
    /// (`NOT_FOUND - no queue 'q' in vhost '/'`).
    pub text: String,
    pub class_id: u16,
    pub method_id: u16,
}

impl AmqpError {
    pub fn new(code: ReplyCode, detail: impl core::fmt::Display) -> Self {
        AmqpError { code, text: format!("{} - {}", code.name(), detail), class_id: 0, method_id: 0 }
    }

    /// Notes which method failed (sent back in channel.close / connection.close).
    pub fn on(mut self, (class_id, method_id): (u16, u16)) -> Self {
        if self.class_id == 0 {
            self.class_id = class_id;
            self.method_id = method_id;
        }
        self
    }

    /// Whether this error closes the connection rather than the channel.
    pub fn is_hard(&self) -> bool {
        self.code.is_hard()
    }

    pub fn not_found(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::NotFound, detail)
    }
    pub fn access_refused(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::AccessRefused, detail)
    }
    pub fn precondition_failed(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::PreconditionFailed, detail)
    }
    pub fn resource_locked(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::ResourceLocked, detail)
    }
    pub fn not_allowed(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::NotAllowed, detail)
    }
    pub fn not_implemented(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::NotImplemented, detail)
    }
    pub fn command_invalid(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::CommandInvalid, detail)
    }
    pub fn channel_error(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::ChannelError, detail)
    }
    pub fn unexpected_frame(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::UnexpectedFrame, detail)
    }
    pub fn frame_error(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::FrameError, detail)
    }
    pub fn syntax_error(detail: impl core::fmt::Display) -> Self {
        Self::new(ReplyCode::SyntaxError, detail)
    }
}

impl core::fmt::Display for AmqpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.text, u16::from(self.code))
    }
}

pub type Result<T, E = AmqpError> = core::result::Result<T, E>;

/// `'name' in vhost '/'`, the way RabbitMQ names resources in reply texts.
pub fn resource(kind: &str, name: &str, vhost: &str) -> String {
    format!("{kind} '{name}' in vhost '{vhost}'")
}
