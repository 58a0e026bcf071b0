//! Warren's broker core: the whole AMQP 0-9-1 broker as a sans-IO state
//! machine.
//!
//! Owns the wire codec ([`amqp`]), connections and channels, exchanges,
//! queues, consumers and the message store. It must not do I/O, spawn
//! threads, read a clock or draw random numbers: a driver (the `warren`
//! gateway, the wasm bindings, tests) passes bytes, time and a seed in, and
//! takes bytes and events out. It builds for `wasm32-unknown-unknown`.
//!
//! The one entry point is [`Broker`]; its documentation is the contract a
//! driver follows: every input, the outputs to poll after each and in what
//! order, timers, persistence, alarms, and the one synchronous callback
//! ([`BodyLoader`]).

pub mod amqp;
mod auth;
mod broker;
mod class;
mod connection;
mod error;
mod exchange;
mod ids;
pub mod management;
mod message;
mod permissions;
mod queue;
mod vhost;

pub use auth::{hash_password, User};
pub use broker::alarms::Alarm;
pub use broker::limits::Limits;
pub use broker::persist::{QueueNumbers, StoreOp};
pub use broker::restore::RestoredMessage;
pub use broker::stats::{MessageCounters, MessageRates};
pub use broker::trace::{TraceEvent, TraceFilter};
pub use broker::{Broker, Config, ConfigError, Event, Transmit};
pub use connection::{PeerAddress, PeerInfo, Transport};
pub use error::AmqpError;
pub use ids::{ConnectionId, QueueId};
pub use message::{BodyLoader, LoadedMessage, MessageRef};
pub use permissions::Permission;
