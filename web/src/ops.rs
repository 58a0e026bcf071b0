//! Management operations the playground asks for, as plain data, turned
//! into the AMQP methods the core's loopback connection executes (so a
//! declare from the canvas gets exactly a client's validation and errors).

use broker_core::amqp::method::*;
use broker_core::amqp::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::convert::json_to_table;

fn direct() -> String {
    "direct".into()
}

fn queue_kind() -> String {
    "queue".into()
}

#[derive(Deserialize, Debug, Clone)]
#[serde(tag = "op")]
pub enum Op {
    #[serde(rename = "exchange.declare")]
    ExchangeDeclare {
        name: String,
        #[serde(rename = "type", default = "direct")]
        kind: String,
        #[serde(default)]
        durable: bool,
        #[serde(default)]
        auto_delete: bool,
        #[serde(default)]
        internal: bool,
        #[serde(default)]
        arguments: Value,
    },
    #[serde(rename = "exchange.delete")]
    ExchangeDelete {
        name: String,
        #[serde(default)]
        if_unused: bool,
    },
    #[serde(rename = "queue.declare")]
    QueueDeclare {
        #[serde(default)]
        name: String,
        #[serde(default)]
        durable: bool,
        #[serde(default)]
        auto_delete: bool,
        #[serde(default)]
        arguments: Value,
    },
    #[serde(rename = "queue.delete")]
    QueueDelete {
        name: String,
        #[serde(default)]
        if_unused: bool,
        #[serde(default)]
        if_empty: bool,
    },
    #[serde(rename = "queue.purge")]
    QueuePurge { name: String },
    #[serde(rename = "bind")]
    Bind(Binding),
    #[serde(rename = "unbind")]
    Unbind(Binding),
}

/// The fields of a bind or unbind operation.
#[derive(Deserialize, Debug, Clone)]
pub struct Binding {
    source: String,
    destination: String,
    #[serde(default = "queue_kind")]
    destination_type: String,
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    arguments: Value,
}

impl Binding {
    /// queue.bind / exchange.bind, or with `bind == false` their unbinds.
    fn into_method(self, bind: bool) -> Result<Method, String> {
        let Binding { source, destination, destination_type, routing_key, arguments } = self;
        let arguments = json_to_table(&arguments)?;
        let (source, destination, routing_key) = (source.as_str().into(), destination.as_str().into(), routing_key.as_str().into());
        Ok(match (destination_type == "exchange", bind) {
            (true, true) => ExchangeBind { destination, source, routing_key, arguments, ..Default::default() }.into(),
            (true, false) => ExchangeUnbind { destination, source, routing_key, arguments, ..Default::default() }.into(),
            (false, true) => QueueBind { queue: destination, exchange: source, routing_key, arguments, ..Default::default() }.into(),
            (false, false) => QueueUnbind { queue: destination, exchange: source, routing_key, arguments, ..Default::default() }.into(),
        })
    }
}

impl Op {
    pub fn into_method(self) -> Result<Method, String> {
        Ok(match self {
            Op::ExchangeDeclare { name, kind, durable, auto_delete, internal, arguments } => ExchangeDeclare {
                exchange: name.as_str().into(),
                kind: kind.as_str().into(),
                durable,
                auto_delete,
                internal,
                arguments: json_to_table(&arguments)?,
                ..Default::default()
            }
            .into(),
            Op::ExchangeDelete { name, if_unused } => {
                ExchangeDelete { exchange: name.as_str().into(), if_unused, ..Default::default() }.into()
            }
            Op::QueueDeclare { name, durable, auto_delete, arguments } => QueueDeclare {
                queue: name.as_str().into(),
                durable,
                auto_delete,
                arguments: json_to_table(&arguments)?,
                ..Default::default()
            }
            .into(),
            Op::QueueDelete { name, if_unused, if_empty } => {
                QueueDelete { queue: name.as_str().into(), if_unused, if_empty, ..Default::default() }.into()
            }
            Op::QueuePurge { name } => QueuePurge { queue: name.as_str().into(), ..Default::default() }.into(),
            Op::Bind(b) => b.into_method(true)?,
            Op::Unbind(b) => b.into_method(false)?,
        })
    }
}

/// The broker's answer to an operation.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Reply {
    /// e.g. `queue.declare-ok`.
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_count: Option<u32>,
}

pub fn reply(m: &Method) -> Reply {
    let mut r = Reply { method: m.name(), queue: None, message_count: None, consumer_count: None };
    match m {
        Method::QueueDeclareOk(ok) => {
            r.queue = Some(ok.queue.to_string());
            r.message_count = Some(ok.message_count);
            r.consumer_count = Some(ok.consumer_count);
        }
        Method::QueuePurgeOk(ok) => r.message_count = Some(ok.message_count),
        Method::QueueDeleteOk(ok) => r.message_count = Some(ok.message_count),
        _ => {}
    }
    r
}
