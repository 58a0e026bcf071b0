//! Warren's broker core.
pub mod amqp;
